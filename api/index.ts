export { API_PREFIX, build } from './app.js';
export type { ApiDeps, BuildOptions } from './app.js';
export type { Principal } from './auth.js';
