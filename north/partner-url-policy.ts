import { isIP } from 'node:net';

/**
 * Which hosts the bridge may open a partner connection to (and so hand a charger's partner password
 * to). With PARTNER_URL_ALLOW set, only the hosts listed there: `host`, `host:port` or `*.domain`.
 * Without it, any host except loopback, private, link-local and unspecified addresses and `localhost`,
 * so an installer cannot point the bridge at the platform's own network. Names are not resolved:
 * a public name that resolves to a private address is only stopped by an allow list.
 */
export function partnerUrlAllowed(url: string, allow: readonly string[] | undefined): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  const host = parsed.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  const port = parsed.port || (parsed.protocol === 'wss:' ? '443' : '80');
  if (allow !== undefined) return allow.some((pattern) => matches(pattern.toLowerCase(), host, port));
  return !isInternalHost(host);
}

function matches(pattern: string, host: string, port: string): boolean {
  const colon = pattern.lastIndexOf(':');
  const hasPort = colon > 0 && /^\d+$/.test(pattern.slice(colon + 1)) && !pattern.slice(0, colon).includes(':');
  const hostPattern = hasPort ? pattern.slice(0, colon) : pattern;
  if (hasPort && pattern.slice(colon + 1) !== port) return false;
  if (hostPattern.startsWith('*.')) return host.endsWith(hostPattern.slice(1));
  return host === hostPattern.replace(/^\[|\]$/g, '');
}

/** The host of a partner URL, for "the password was set by this host". */
export function partnerHost(url: string): string | undefined {
  try {
    return new URL(url).host.toLowerCase();
  } catch {
    return undefined;
  }
}

function isInternalHost(host: string): boolean {
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  const kind = isIP(host);
  if (kind === 4) {
    const [a = 0, b = 0] = host.split('.').map(Number);
    return a === 0 || a === 10 || a === 127 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127);
  }
  if (kind === 6) {
    const h = host.toLowerCase();
    if (h === '::' || h === '::1') return true;
    if (h.startsWith('::ffff:')) return isInternalHost(h.slice(7));
    return /^f[cd]/.test(h) || /^fe[89ab]/.test(h);
  }
  return false;
}
