// The one registry of CMQ error codes (documented in docs/errors.md). Every layer refers to errors
// by name; only api/ turns them into `{code, message}` responses, and client/ maps them back.

export interface CmqErrorDef {
  /** The `code` field of the response: what SDKs branch on. */
  readonly code: number;
  /** The module code shown in the message as `(NNNNN)`. */
  readonly module: number;
  /** English text as documented; `%s` is replaced by the first argument. */
  readonly text: string;
}

function def(code: number, module: number, text: string): CmqErrorDef {
  return { code, module, text };
}

export const ERRORS = {
  // Common / auth / request
  invalidParams: def(4000, 10000, 'invalid request parameters'),
  missingParams: def(4000, 10010, 'lacked of required parameters'),
  authFailed: def(4100, 10030, 'authentication failed'),
  internalError: def(6000, 10050, 'server internal error'),
  // Availability errors: whether a retry is safe is in the code, not only in the text.
  // 6100: nothing was applied, retrying cannot apply it twice. 6000/10810: it may have been applied.
  notApplied: def(6100, 10800, 'service temporarily unavailable, the request was not applied, retry'),
  outcomeUnknown: def(6000, 10810, 'outcome unknown, the request may or may not have been applied'),
  requestParamsError: def(4000, 10110, 'request parameters error'),
  throttled: def(4420, 10250, 'qps throttling'),
  secretIdNotExist: def(4100, 10270, 'secret id is not existed'),
  actionNotExist: def(4000, 10280, 'action is not existed'),
  paramKeyFormat: def(4000, 10310, 'error: parameter %s key format error'),
  paramNotRepeatable: def(4000, 10330, 'parameter %s is NOT a repeatable parameter'),
  paramOutOfRange: def(4000, 10350, 'parameter %s value or length is out of range'),
  paramErrorType: def(4000, 10360, 'parameter %s error type'),
  batchSizeOutOfRange: def(4000, 10370, '%s parameter batch size is out of range'),
  paramNotConsecutive: def(4000, 10380, '%s parameter is not consequent'),
  missingParam: def(4000, 10390, 'lacked of required parameter %s'),
  httpMethod: def(4000, 10410, 'unexpected http %s only GET or POST is supported'),
  cannotParse: def(4000, 10420, 'cannot parse %s, or request size is more than 1MB'),
  actionNameNotExist: def(4000, 10430, 'action name %s is not existed'),
  secretIdNotAkid: def(4000, 10450, "secret id dosen't begin with AKID"),

  // Queue
  queueNameFormat: def(4000, 10020, 'queue name format error'),
  queueNotExist: def(4440, 10100, 'queue is not existed, or deleted'),
  // The module code for "queue exists" is undocumented (spec §1.6); 10060 is our choice.
  queueExists: def(4460, 10060, 'queue is already existed,case insensitive'),
  queueLimit: def(4450, 10220, 'number of queues has reached the limit'),
  msgTooLarge: def(4400, 10230, 'exceed maximum message size'),
  heapFull: def(4410, 10240, 'reach maximum retention number of message'),
  receiptHandleInvalid: def(4430, 10260, 'receipt handle is invalid'),
  batchTooLarge: def(4470, 10300, 'total message size exceed 1MB'),
  msgBodyEmpty: def(4000, 10120, "message body can't be empty"),
  receiptHandleError: def(4000, 10470, 'receiptHandle error'),
  noMessage: def(7000, 10200, 'no message'),
  sendFailed: def(6000, 10090, 'send message failed'),
  receiveFailed: def(6000, 10130, 'receive message failed'),
  deleteFailed: def(6000, 10140, 'delete message failed'),
  deletePartial: def(6010, 10150, 'delete message partially failed'),
  deleteAllFailed: def(6020, 10290, 'batch delete message failed'),
  queueRecreateTooSoon: def(6040, 10660, 'it will take some time to release resources of previous queue, please try again later'),
  rewindDisabled: def(6050, 10670, 'your queue cannot be rewinded'),
  rewindTimeInvalid: def(4000, 10680, 'invalid rewind time, you can get the vaild range of that via GetQueueAttributes'),
  rewindSecondsTooLarge: def(4000, 10700, 'rewindSeconds cannot be greater than msgRetentionSeconds'),
  tooManyInactive: def(6070, 10690, 'too many unacked(inactive) messages or delayed messages'),

  // Dead letters
  dlqPolicyNotJson: def(4000, 10710, 'deadLetterPolicy must be a json string'),
  dlqPolicyParams: def(4000, 10720, 'deadLetterPolicy params error,please check it'),
  dlqNotExist: def(4000, 10730, 'deadLetter queue not exist'),
  dlqNested: def(4000, 10740, 'deadLetter queue is not allowed to nest'),
  dlqDeleteInUse: def(4000, 10750, 'it is not allowed to be deleted when the queue is dead letter queue'),
  dlqPolicyQueueMember: def(4000, 10760, 'the deadLetterPolicy must has deadLetterQueue member, only be a string'),
  dlqPolicyPolicyMember: def(4000, 10770, 'the deadLetterPolicy must has policy member , only set 0 or 1'),
  dlqBindTooMany: def(4000, 10780, 'the deadLetter Queue bind too many times'),

  // Topics / subscriptions
  topicNotExist: def(4440, 10600, 'topic is not existed, or deleted'),
  topicLimit: def(4450, 10610, 'number of topics has reached the limit'),
  topicNameFormat: def(4000, 10590, 'topic name format error'),
  subscriptionNameFormat: def(4000, 10620, 'subscription name format error'),
  topicHasSubscriptions: def(4000, 10540, 'there exists subscriptions under this topic, please unsubscribe all of them before DeleteTopic'),
  subscriptionExists: def(4490, 10470, 'subscribtion is already existed'),
  subscriptionLimit: def(4500, 10480, 'number of subscription has reached the limit'),
  topicNoSubscription: def(6030, 10650, 'topic has no subscription, please create a subscription before publishing message'),
  topicNoMatch: def(6030, 10730, 'no bindingKey or filterTag matches the routingKey or msgTag'),
  // "Topic exists" and "subscription does not exist" are undocumented (spec §1.6); these are our choices.
  topicExists: def(4460, 10660, 'topic is already existed,case insensitive'),
  subscriptionNotExist: def(4440, 10560, 'subscription is not existed, or deleted'),
  filterTagLimit: def(4000, 10490, 'number of filterTag exceed limit'),
  filterTagTooMany: def(4000, 10670, 'too many filterTag'),
  endpointFormat: def(4000, 10500, 'endpoint format error'),
  endpointIllegal: def(4000, 10630, 'illegal endpoint'),
  endpointBlank: def(4510, 10570, 'url connot contain any blank characters'),
  protocolUndefined: def(4000, 10510, 'undefined protocol'),
  notifyStrategyUndefined: def(4000, 10520, 'undefined notify retry stragety'),
  notifyContentFormatUndefined: def(4000, 10530, 'undefined notify content format'),
  queueSubscriptionFormat: def(4000, 10640, 'notifyContentFormat of protocol queue must be SIMPLIFIED'),
  bindingKeyMissing: def(4000, 10710, 'parameters lack of bindingKey'),
  bindingKeyTooMany: def(4000, 10680, 'too many bindingKey'),
  keyTooManyDelimiters: def(4000, 10691, 'too many delimeters'),
  routingKeyMissing: def(4000, 10700, 'parameters lack of routingKey'),
  msgTagTooMany: def(4000, 10720, 'too many msgTag'),
  filterTagOrBindingKeyTooMany: def(6050, 10740, 'too many filterTag or bindingKey'),
} as const satisfies Record<string, CmqErrorDef>;

export type ErrorName = keyof typeof ERRORS;

/** The `message` field of a response: `(module)text`, with `%s` filled from `arg`. */
export function errorMessage(name: ErrorName, arg?: string): string {
  const d = ERRORS[name];
  const text = arg === undefined ? d.text.replace(' %s', '').replace('%s ', '') : d.text.replace('%s', arg);
  return `(${d.module})${text}`;
}

/** A CMQ error as a value: what raft-free layers return instead of throwing. */
export interface ErrorResult {
  readonly ok: false;
  readonly error: ErrorName;
  /** Fills `%s` in the message (usually a parameter name). */
  readonly arg?: string;
  /** Extra detail appended to the message for operators (never changes the code). */
  readonly detail?: string;
}

export function fail(error: ErrorName, arg?: string, detail?: string): ErrorResult {
  const r: { ok: false; error: ErrorName; arg?: string; detail?: string } = { ok: false, error };
  if (arg !== undefined) r.arg = arg;
  if (detail !== undefined) r.detail = detail;
  return r;
}

/**
 * An ErrorResult thrown where a method's signature has no room for one (a read that returns the
 * value itself); the API layer answers it as the error it carries, not as an internal error.
 */
export class ErrorResultError extends Error {
  constructor(readonly result: ErrorResult) {
    super(result.detail ?? result.error);
    this.name = 'ErrorResultError';
  }
}
