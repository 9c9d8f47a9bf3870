import type WebSocket from 'ws';

/**
 * Writes OCPP text frames. `ws.send` frames a string as two writes (a header Buffer and the string)
 * under cork/uncork, with two option objects per message; on a node answering thousands of chargers
 * that path was the largest single cost after the socket syscall itself. For a server socket without
 * extensions (no permessage-deflate, so frames are neither masked nor compressed and ws never queues
 * them), a text frame is one header plus the UTF-8 payload: it is built as one Buffer and written in
 * one call. Every other socket (a client towards a partner masks its frames) goes through `ws.send`.
 * Pings and close frames always go through ws; both paths write to the socket in call order.
 */

/** The parts of ws's WebSocket this relies on (ws 8). */
interface WsInternals {
  _isServer?: boolean;
  _extensions?: Record<string, unknown>;
  _socket?: { write(chunk: Buffer): boolean } | null;
  _sender?: { _state?: number } | null;
}

/** FIN + opcode 1 (text). */
const FIN_TEXT = 0x81;

/** Whether text frames to `ws` may be written with `writeText` (decided once: extensions are fixed at the handshake). */
export function canWriteDirect(ws: WebSocket): boolean {
  const internals = ws as unknown as WsInternals;
  return (
    internals._isServer === true &&
    internals._extensions !== undefined &&
    Object.keys(internals._extensions).length === 0 &&
    typeof internals._socket?.write === 'function' &&
    internals._sender?._state === 0
  );
}

/** Writes a text frame to a socket `canWriteDirect` accepted; the caller checked that it is open. */
export function writeText(ws: WebSocket, text: string): void {
  const internals = ws as unknown as WsInternals;
  // ws queues frames while it compresses or reads a Blob; never here, but then its order rules.
  if (internals._sender?._state !== 0) return ws.send(text);
  (internals._socket as { write(chunk: Buffer): boolean }).write(textFrame(text));
}

/** An unmasked, unfragmented text frame (RFC 6455 section 5.2). */
export function textFrame(text: string): Buffer {
  const length = Buffer.byteLength(text);
  const head = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const buf = Buffer.allocUnsafe(head + length);
  buf[0] = FIN_TEXT;
  if (head === 2) buf[1] = length;
  else if (head === 4) {
    buf[1] = 126;
    buf.writeUInt16BE(length, 2);
  } else {
    buf[1] = 127;
    buf.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    buf.writeUInt32BE(length >>> 0, 6);
  }
  buf.write(text, head, 'utf8');
  return buf;
}
