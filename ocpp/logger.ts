/** The slice of pino's logger that the OCPP layer uses: `(fields, message)`. */
export interface OcppLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const noop = (): void => undefined;

export const silentLogger: OcppLogger = { debug: noop, info: noop, warn: noop, error: noop };
