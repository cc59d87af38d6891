// A plain send (./plain-send-reader.ts: SendMessage or SendMessageBatch of bodies without
// attributes or FIFO ids, every part already known to be accepted) run and answered: the
// envelopes written straight from the request's bytes, one command, and the answer written as
// bytes. The general actions (./actions.ts) do the same with a part object, a string and a view
// per body; what is stored and what is answered is byte for byte theirs.

import { fail, type ErrorResult } from '../../protocol/errors';
import type { SendBodyOptions } from '../../broker/commands';
import { ENVELOPE_DIGEST_AT, ENVELOPE_DIGEST_BYTES, writeEnvelopesFrom } from '../../service/message-envelope';
import { BACKSLASH, QUOTE } from '../json-bytes';
import { submit } from '../queue-actions';
import { failedEntry, senderOnlyHead, SQS_ACTIONS } from './actions';
import type { PlainSend } from './plain-send-reader';
import type { SqsEnv, SqsOutput } from './types';

/**
 * Whether `actions` serves `name` with the standard action, which a plain send stands in for (a
 * server or test that replaced it gets its own action, through the general path).
 */
export function servesStandardSend(actions: Readonly<Record<string, unknown>>, name: 'SendMessage' | 'SendMessageBatch'): boolean {
  return Object.prototype.hasOwnProperty.call(actions, name) && actions[name] === SQS_ACTIONS[name];
}

/** What a plain send answers: its JSON answer as bytes, or an output or error for the wire to render. */
export type PlainSendOutcome = { ok: true; rendered: Buffer } | { ok: true; output: SqsOutput } | ErrorResult;

export async function runPlainSend(env: SqsEnv, send: PlainSend): Promise<PlainSendOutcome> {
  const messages = send.messages;
  const envelopes = writeEnvelopesFrom(senderOnlyHead(env.senderId), send.source, messages);
  // As the general action's: the body counts alone (no attributes), its own delay kept.
  const options: SendBodyOptions[] = messages.map((m) => {
    const counted = m.end - m.start;
    return m.delaySeconds === undefined ? { enveloped: true, countedBytes: counted } : { enveloped: true, countedBytes: counted, delaySeconds: m.delaySeconds };
  });
  const batch = send.action === 'SendMessageBatch';
  let r = await submit(env, { kind: 'sendMessages', queueName: send.queueName, delaySeconds: null, bodies: envelopes, options });
  if (r.ok && r.msgIds.length !== messages.length) r = fail('internalError', undefined, `(${r.msgIds.length} msgIds for ${messages.length} messages)`);
  if (!r.ok) {
    // As the general action: the queue missing (or any failure of a single send) is the
    // request's failure; any other is every entry's.
    if (!batch || r.error === 'queueNotExist') return r;
    const failure: ErrorResult = r;
    return { ok: true, output: { Successful: [], Failed: messages.map((m) => failedEntry(m.id!, failure)) } };
  }
  const rendered = batch ? renderBatchAnswer(messages, r.msgIds, envelopes) : renderSingleAnswer(r.msgIds[0]!, envelopes[0]!);
  if (rendered !== undefined) return { ok: true, rendered };
  // A message id needing JSON escapes (none of the broker's do): rendered as the general path does.
  const md5 = (i: number): string => envelopes[i]!.toString('hex', ENVELOPE_DIGEST_AT, ENVELOPE_DIGEST_AT + ENVELOPE_DIGEST_BYTES);
  if (!batch) return { ok: true, output: { MessageId: r.msgIds[0], MD5OfMessageBody: md5(0) } };
  const msgIds = r.msgIds;
  return { ok: true, output: { Successful: messages.map((m, i) => ({ Id: m.id, MessageId: msgIds[i], MD5OfMessageBody: md5(i) })), Failed: [] } };
}

// ---- answers, as jsonBytes renders the general action's output ----

const BATCH_OPEN = '{"Successful":[';
const BATCH_CLOSE = '],"Failed":[]}';
const ID_OPEN = '{"Id":"';
const MESSAGE_ID_OPEN = '"MessageId":"';
const MD5_OPEN = '","MD5OfMessageBody":"';
const ENTRY_CLOSE = '"}';
const HEX = Buffer.from('0123456789abcdef', 'latin1');

/** Whether JSON writes `s` as its characters (printable ASCII but '"' and '\'). */
function plainJsonText(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === QUOTE || c === BACKSLASH) return false;
  }
  return true;
}

/** Writes ASCII text and digests as hex into one buffer of a size counted beforehand. */
class AnswerWriter {
  readonly out: Buffer;
  private at = 0;

  constructor(size: number) {
    this.out = Buffer.allocUnsafe(size);
  }

  text(s: string): void {
    const out = this.out;
    let at = this.at;
    for (let i = 0; i < s.length; i++) out[at++] = s.charCodeAt(i);
    this.at = at;
  }

  /** An envelope's body digest, in lower-case hex. */
  digest(envelope: Buffer): void {
    const out = this.out;
    let at = this.at;
    for (let i = ENVELOPE_DIGEST_AT; i < ENVELOPE_DIGEST_AT + ENVELOPE_DIGEST_BYTES; i++) {
      const b = envelope[i] as number;
      out[at++] = HEX[b >>> 4] as number;
      out[at++] = HEX[b & 15] as number;
    }
    this.at = at;
  }
}

const HEX_CHARS = 2 * ENVELOPE_DIGEST_BYTES;

function renderSingleAnswer(msgId: string, envelope: Buffer): Buffer | undefined {
  if (!plainJsonText(msgId)) return undefined;
  const w = new AnswerWriter(1 + MESSAGE_ID_OPEN.length + msgId.length + MD5_OPEN.length + HEX_CHARS + ENTRY_CLOSE.length);
  w.text('{');
  w.text(MESSAGE_ID_OPEN);
  w.text(msgId);
  w.text(MD5_OPEN);
  w.digest(envelope);
  w.text(ENTRY_CLOSE);
  return w.out;
}

function renderBatchAnswer(messages: readonly { id: string | undefined }[], msgIds: readonly string[], envelopes: readonly Buffer[]): Buffer | undefined {
  const fixed = ID_OPEN.length + 2 + MESSAGE_ID_OPEN.length + MD5_OPEN.length + HEX_CHARS + ENTRY_CLOSE.length;
  let size = BATCH_OPEN.length + BATCH_CLOSE.length + messages.length - 1;
  for (let i = 0; i < messages.length; i++) {
    if (!plainJsonText(msgIds[i]!)) return undefined;
    size += fixed + messages[i]!.id!.length + msgIds[i]!.length;
  }
  const w = new AnswerWriter(size);
  w.text(BATCH_OPEN);
  for (let i = 0; i < messages.length; i++) {
    if (i > 0) w.text(',');
    w.text(ID_OPEN);
    w.text(messages[i]!.id!); // [A-Za-z0-9_-] only (the reader's check)
    w.text('",');
    w.text(MESSAGE_ID_OPEN);
    w.text(msgIds[i]!);
    w.text(MD5_OPEN);
    w.digest(envelopes[i]!);
    w.text(ENTRY_CLOSE);
  }
  w.text(BATCH_CLOSE);
  return w.out;
}
