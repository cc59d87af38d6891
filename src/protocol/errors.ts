// The one registry of errors, protocol-neutral (documented in docs/errors.md). Every layer refers
// to an error by name; its `kind` says what a caller may do about it (above all, whether a retry
// is safe), and its English text is what a client protocol shows. The codes a protocol puts on
// the wire live with that protocol: CMQ's in ./cmq-codes.ts, used by api/ and client/ only.

/**
 * What kind of failure an error is, which is what a retry decision needs:
 *
 * - `invalid`        the request itself is wrong (parameters, size, format); nothing was applied,
 *                    and the same request fails the same way again.
 * - `auth`           the credentials or signature were refused; nothing was applied.
 * - `notFound`       a resource the request names does not exist; nothing was applied.
 * - `exists`         the resource to create exists already; nothing was applied (a create retried
 *                    after `outcomeUnknown` may see this: the first attempt succeeded).
 * - `conflict`       valid, but the current state forbids it (in use, not empty, disabled, too
 *                    soon); nothing was applied; it may succeed once that state changes.
 * - `limit`          a quota or capacity of the service is reached (queue count, backlog); nothing
 *                    was applied.
 * - `throttled`      too many requests now; nothing was applied; retry after a pause.
 * - `empty`          nothing to return (no message to receive); nothing was applied.
 * - `partial`        part of a batch was applied; the per-item list says which.
 * - `notApplied`     the service could not take the request now (no leader, shutting down, full
 *                    disk, forward never sent); nothing was applied: a retry, anywhere, is safe.
 * - `outcomeUnknown` it may or may not have been applied: read back (or deduplicate) before
 *                    repeating a non-idempotent write.
 * - `internal`       an unexpected failure of the service; whether anything was applied is not
 *                    known, so treat a write as `outcomeUnknown`.
 */
export const ERROR_KINDS = [
  'invalid',
  'auth',
  'notFound',
  'exists',
  'conflict',
  'limit',
  'throttled',
  'empty',
  'partial',
  'notApplied',
  'outcomeUnknown',
  'internal',
] as const;

export type ErrorKind = (typeof ERROR_KINDS)[number];

/** What a failure of each kind applied: the retry decision, from the kind alone. */
export const KIND_APPLIED = {
  invalid: 'nothing',
  auth: 'nothing',
  notFound: 'nothing',
  exists: 'nothing',
  conflict: 'nothing',
  limit: 'nothing',
  throttled: 'nothing',
  empty: 'nothing',
  partial: 'part',
  notApplied: 'nothing',
  outcomeUnknown: 'unknown',
  internal: 'unknown',
} as const satisfies Record<ErrorKind, 'nothing' | 'part' | 'unknown'>;

export interface ErrorDef {
  readonly kind: ErrorKind;
  /** English text as documented; `%s` is replaced by the first argument. */
  readonly text: string;
}

function def(kind: ErrorKind, text: string): ErrorDef {
  return { kind, text };
}

export const ERRORS = {
  // Common / auth / request
  invalidParams: def('invalid', 'invalid request parameters'),
  missingParams: def('invalid', 'lacked of required parameters'),
  authFailed: def('auth', 'authentication failed'),
  internalError: def('internal', 'server internal error'),
  // Availability errors: the kind alone says whether a retry is safe.
  notApplied: def('notApplied', 'service temporarily unavailable, the request was not applied, retry'),
  outcomeUnknown: def('outcomeUnknown', 'outcome unknown, the request may or may not have been applied'),
  requestParamsError: def('invalid', 'request parameters error'),
  throttled: def('throttled', 'qps throttling'),
  secretIdNotExist: def('auth', 'secret id is not existed'),
  actionNotExist: def('invalid', 'action is not existed'),
  paramKeyFormat: def('invalid', 'error: parameter %s key format error'),
  paramNotRepeatable: def('invalid', 'parameter %s is NOT a repeatable parameter'),
  paramOutOfRange: def('invalid', 'parameter %s value or length is out of range'),
  paramErrorType: def('invalid', 'parameter %s error type'),
  batchSizeOutOfRange: def('invalid', '%s parameter batch size is out of range'),
  paramNotConsecutive: def('invalid', '%s parameter is not consequent'),
  missingParam: def('invalid', 'lacked of required parameter %s'),
  httpMethod: def('invalid', 'unexpected http %s only GET or POST is supported'),
  cannotParse: def('invalid', 'cannot parse %s, or request size is more than 1MB'),
  actionNameNotExist: def('invalid', 'action name %s is not existed'),
  secretIdNotAkid: def('auth', "secret id dosen't begin with AKID"),

  // Queue
  queueNameFormat: def('invalid', 'queue name format error'),
  queueNotExist: def('notFound', 'queue is not existed, or deleted'),
  queueExists: def('exists', 'queue is already existed,case insensitive'),
  queueLimit: def('limit', 'number of queues has reached the limit'),
  msgTooLarge: def('invalid', 'exceed maximum message size'),
  heapFull: def('limit', 'reach maximum retention number of message'),
  receiptHandleInvalid: def('invalid', 'receipt handle is invalid'),
  batchTooLarge: def('invalid', 'total message size exceed 1MB'),
  msgBodyEmpty: def('invalid', "message body can't be empty"),
  receiptHandleError: def('invalid', 'receiptHandle error'),
  noMessage: def('empty', 'no message'),
  sendFailed: def('internal', 'send message failed'),
  receiveFailed: def('internal', 'receive message failed'),
  deleteFailed: def('internal', 'delete message failed'),
  deletePartial: def('partial', 'delete message partially failed'),
  deleteAllFailed: def('invalid', 'batch delete message failed'),
  queueRecreateTooSoon: def('conflict', 'it will take some time to release resources of previous queue, please try again later'),
  rewindDisabled: def('conflict', 'your queue cannot be rewinded'),
  rewindTimeInvalid: def('invalid', 'invalid rewind time, you can get the vaild range of that via GetQueueAttributes'),
  rewindSecondsTooLarge: def('invalid', 'rewindSeconds cannot be greater than msgRetentionSeconds'),
  tooManyInactive: def('limit', 'too many unacked(inactive) messages or delayed messages'),

  // Dead letters
  dlqPolicyNotJson: def('invalid', 'deadLetterPolicy must be a json string'),
  dlqPolicyParams: def('invalid', 'deadLetterPolicy params error,please check it'),
  dlqNotExist: def('notFound', 'deadLetter queue not exist'),
  dlqNested: def('conflict', 'deadLetter queue is not allowed to nest'),
  dlqDeleteInUse: def('conflict', 'it is not allowed to be deleted when the queue is dead letter queue'),
  dlqPolicyQueueMember: def('invalid', 'the deadLetterPolicy must has deadLetterQueue member, only be a string'),
  dlqPolicyPolicyMember: def('invalid', 'the deadLetterPolicy must has policy member , only set 0 or 1'),
  dlqBindTooMany: def('limit', 'the deadLetter Queue bind too many times'),
  dlqNotAllowed: def('conflict', "the deadLetter queue's redrive allow policy does not allow this queue"),
  queueTagsFull: def('limit', 'a queue has at most 50 tags'),

  // Topics / subscriptions
  topicNotExist: def('notFound', 'topic is not existed, or deleted'),
  topicLimit: def('limit', 'number of topics has reached the limit'),
  topicNameFormat: def('invalid', 'topic name format error'),
  subscriptionNameFormat: def('invalid', 'subscription name format error'),
  topicHasSubscriptions: def('conflict', 'there exists subscriptions under this topic, please unsubscribe all of them before DeleteTopic'),
  subscriptionExists: def('exists', 'subscribtion is already existed'),
  subscriptionLimit: def('limit', 'number of subscription has reached the limit'),
  topicNoSubscription: def('conflict', 'topic has no subscription, please create a subscription before publishing message'),
  topicNoMatch: def('conflict', 'no bindingKey or filterTag matches the routingKey or msgTag'),
  topicExists: def('exists', 'topic is already existed,case insensitive'),
  subscriptionNotExist: def('notFound', 'subscription is not existed, or deleted'),
  filterTagLimit: def('invalid', 'number of filterTag exceed limit'),
  filterTagTooMany: def('invalid', 'too many filterTag'),
  endpointFormat: def('invalid', 'endpoint format error'),
  endpointIllegal: def('invalid', 'illegal endpoint'),
  endpointBlank: def('invalid', 'url connot contain any blank characters'),
  protocolUndefined: def('invalid', 'undefined protocol'),
  notifyStrategyUndefined: def('invalid', 'undefined notify retry stragety'),
  notifyContentFormatUndefined: def('invalid', 'undefined notify content format'),
  queueSubscriptionFormat: def('invalid', 'notifyContentFormat of protocol queue must be SIMPLIFIED'),
  bindingKeyMissing: def('invalid', 'parameters lack of bindingKey'),
  bindingKeyTooMany: def('invalid', 'too many bindingKey'),
  keyTooManyDelimiters: def('invalid', 'too many delimeters'),
  routingKeyMissing: def('invalid', 'parameters lack of routingKey'),
  msgTagTooMany: def('invalid', 'too many msgTag'),
  filterTagOrBindingKeyTooMany: def('invalid', 'too many filterTag or bindingKey'),

  // SQS wire (api/sqs/wire.ts): AWS Signature Version 4 failures that CMQ's signature has no
  // counterpart for. An unknown access key id is secretIdNotExist, a wrong signature authFailed.
  authMissing: def('auth', 'the request is not signed (no AWS Signature Version 4)'),
  authIncomplete: def('auth', 'the request signature is incomplete or malformed'),
  authExpired: def('auth', 'the request signature has expired or its date is too far from server time'),
  // SQS actions (src/api/sqs/): request errors that CMQ has no name for. The SQS codes and shapes
  // they are rendered with live in ./sqs-codes.ts.
  invalidParameterValue: def('invalid', 'invalid value for the parameter %s'),
  invalidAddress: def('invalid', 'the address %s is not a queue URL of this service'),
  invalidAttributeName: def('invalid', 'unknown attribute %s'),
  invalidAttributeValue: def('invalid', 'invalid value for the attribute %s'),
  invalidMessageContents: def('invalid', 'the message contains characters outside the allowed set'),
  emptyBatchRequest: def('invalid', 'the batch request does not contain an entry'),
  tooManyEntriesInBatch: def('invalid', 'the batch request contains more than 10 entries'),
  batchEntryIdsNotDistinct: def('invalid', 'two or more batch entries have the same Id'),
  invalidBatchEntryId: def('invalid', 'a batch entry Id is not 1 to 80 letters, digits, hyphens or underscores'),
  messageNotInflight: def('conflict', 'the message is not in flight under this receipt handle'),
  unsupportedOperation: def('invalid', 'the action %s is not supported yet'),
  // FIFO queues (SQS API)
  fifoImmutable: def('invalid', 'whether a queue is FIFO is set when it is created and cannot be changed'),
  fifoGroupIdRequired: def('invalid', 'every message sent to a FIFO queue needs a message group id'),
  fifoMessageDelay: def('invalid', 'a message sent to a FIFO queue cannot have its own delay, only the queue has one'),
  // Dead-letter redrive and message move tasks (broker/redrive.ts)
  moveSameQueue: def('invalid', 'the destination queue must differ from the source queue'),
  moveSourceNotDlq: def('conflict', 'the source queue is not a dead-letter queue'),
  moveTaskRunning: def('conflict', 'the source queue already has a running move task'),
  moveTaskNotExist: def('notFound', 'move task is not existed'),
  moveTaskNotRunning: def('conflict', 'the move task is not running'),
  moveFifo: def('invalid', 'messages cannot be moved between a FIFO queue and a standard queue'),
  // Not returned since moves and dead letters cross sets through the source set's outbox; kept so
  // its code keeps its meaning for clients written against the release that returned it.
  crossSetMove: def('conflict', 'the queues are on different sets: moving messages between them is not supported'),

  // Cluster controller (controller/): sets, routes of queues and topics to sets, moves of a queue
  // between sets and its shards. An unknown queue or topic is queueNotExist / topicNotExist, a
  // name taken queueExists / topicExists, a bad number paramOutOfRange.
  setNotExist: def('notFound', 'the set %s does not exist'),
  setExists: def('exists', 'a set with this id or Raft group number already exists'),
  setNotActive: def('conflict', 'the set %s is draining, nothing new is placed on it'),
  setHoldsEntity: def('conflict', 'the set %s already holds this queue or topic, or a shard of it'),
  notEnoughSets: def('limit', 'not enough active sets for %s shards'),
  routeChangeRunning: def('conflict', 'a move or shard growth of this queue or topic is already in progress'),
  routeChangeNotExist: def('notFound', 'no move or shard growth of this queue or topic is in progress'),
  routeChangePhase: def('conflict', 'the move or shard growth of this queue or topic is not at the step this command needs'),
  // Moving a queue to another set (node/queue-move.ts): its source is deleted only once empty.
  queueNotEmpty: def('conflict', 'the queue still holds messages'),
  queueMoveUnsupported: def('invalid', 'moving a queue to another set does not support %s'),
  // Queues of several shards (node/sharded-queues.ts): what they do not support.
  shardedUnsupported: def('invalid', 'a queue of several shards does not support %s'),
} as const satisfies Record<string, ErrorDef>;

export type ErrorName = keyof typeof ERRORS;

/** The kind of an error (see ErrorKind). */
export function errorKind(name: ErrorName): ErrorKind {
  return ERRORS[name].kind;
}

/** The English text with `%s` filled from `arg` (dropped, with its space, when there is none). */
export function errorText(name: ErrorName, arg?: string): string {
  const text = ERRORS[name].text;
  return arg === undefined ? text.replace(' %s', '').replace('%s ', '') : text.replace('%s', arg);
}

/** An error as a value: what every layer below the client protocols returns instead of throwing. */
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
