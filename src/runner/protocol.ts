import { createHmac, randomUUID } from 'node:crypto';

/**
 * Jupyter messaging protocol 5.3 wire format: the multipart frames of one message, signed with
 * HMAC-SHA256 over the four JSON frames (header, parent header, metadata, content).
 * https://jupyter-client.readthedocs.io/en/latest/messaging.html#the-wire-protocol
 */

export const PROTOCOL_VERSION = '5.3';
const DELIMITER = '<IDS|MSG>';

export interface MessageHeader {
  msg_id: string;
  msg_type: string;
  session: string;
  username: string;
  date: string;
  version: string;
}

export interface JupyterMessage<C = Record<string, unknown>> {
  header: MessageHeader;
  /** The header of the request this message answers; `{}` when it answers none. */
  parent_header: Partial<MessageHeader>;
  metadata: Record<string, unknown>;
  content: C;
}

export class ProtocolError extends Error {}

function sign(key: string, frames: readonly (string | Buffer)[]): string {
  const hmac = createHmac('sha256', key);
  for (const f of frames) hmac.update(f);
  return hmac.digest('hex');
}

/** Builds a request message of this client session. */
export function newMessage(session: string, msgType: string, content: Record<string, unknown>): JupyterMessage {
  return {
    header: {
      msg_id: randomUUID(),
      msg_type: msgType,
      session,
      username: 'runbook',
      date: new Date().toISOString(),
      version: PROTOCOL_VERSION,
    },
    parent_header: {},
    metadata: {},
    content,
  };
}

/** The frames to send for `msg`, signed with `key`. */
export function encodeMessage(key: string, msg: JupyterMessage): string[] {
  const parts = [
    JSON.stringify(msg.header),
    JSON.stringify(msg.parent_header),
    JSON.stringify(msg.metadata),
    JSON.stringify(msg.content),
  ];
  return [DELIMITER, sign(key, parts), ...parts];
}

/**
 * Parses received frames: routing identities before the delimiter are ignored, the signature is
 * checked (a mismatch means a foreign or corrupted message and throws), the four frames are parsed.
 */
export function decodeMessage(key: string, frames: readonly Buffer[]): JupyterMessage {
  const at = frames.findIndex((f) => f.length === DELIMITER.length && f.toString('latin1') === DELIMITER);
  if (at < 0 || frames.length < at + 6) throw new ProtocolError('malformed Jupyter message: no delimiter or missing frames');
  const signature = frames[at + 1].toString('latin1');
  const parts = frames.slice(at + 2, at + 6);
  if (sign(key, parts) !== signature) throw new ProtocolError('bad HMAC signature on a kernel message');
  const [header, parent, metadata, content] = parts.map((p) => JSON.parse(p.toString('utf8')));
  return { header, parent_header: parent, metadata, content };
}
