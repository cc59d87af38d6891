// The CMQ wire codes of every error in the registry (./errors.ts): the response `code` SDKs branch
// on and the module code shown in the message as `(NNNNN)`. Only the CMQ protocol (api/) and the
// SDK (client/) read this table; the service, the broker and the node speak in error names and
// kinds (test/unit/layering.test.ts checks they never import it).

import { ERRORS, errorText, type ErrorDef, type ErrorName } from './errors';

export interface CmqCode {
  /** The `code` field of the response: what SDKs branch on. */
  readonly code: number;
  /** The module code shown in the message as `(NNNNN)`. */
  readonly module: number;
}

function cmq(code: number, module: number): CmqCode {
  return { code, module };
}

/** Exhaustive over the registry: a name without a CMQ code does not compile. */
export const CMQ_CODES = {
  // Common / auth / request
  invalidParams: cmq(4000, 10000),
  missingParams: cmq(4000, 10010),
  authFailed: cmq(4100, 10030),
  internalError: cmq(6000, 10050),
  // Availability errors: whether a retry is safe is in the code, not only in the text (for SDKs
  // that read only `code`). 6100: nothing was applied. 6000/10810: it may have been applied.
  notApplied: cmq(6100, 10800),
  outcomeUnknown: cmq(6000, 10810),
  requestParamsError: cmq(4000, 10110),
  throttled: cmq(4420, 10250),
  secretIdNotExist: cmq(4100, 10270),
  actionNotExist: cmq(4000, 10280),
  paramKeyFormat: cmq(4000, 10310),
  paramNotRepeatable: cmq(4000, 10330),
  paramOutOfRange: cmq(4000, 10350),
  paramErrorType: cmq(4000, 10360),
  batchSizeOutOfRange: cmq(4000, 10370),
  paramNotConsecutive: cmq(4000, 10380),
  missingParam: cmq(4000, 10390),
  httpMethod: cmq(4000, 10410),
  cannotParse: cmq(4000, 10420),
  actionNameNotExist: cmq(4000, 10430),
  secretIdNotAkid: cmq(4000, 10450),

  // Queue
  queueNameFormat: cmq(4000, 10020),
  queueNotExist: cmq(4440, 10100),
  // The module code for "queue exists" is undocumented (spec §1.6); 10060 is our choice.
  queueExists: cmq(4460, 10060),
  queueLimit: cmq(4450, 10220),
  msgTooLarge: cmq(4400, 10230),
  heapFull: cmq(4410, 10240),
  receiptHandleInvalid: cmq(4430, 10260),
  batchTooLarge: cmq(4470, 10300),
  msgBodyEmpty: cmq(4000, 10120),
  receiptHandleError: cmq(4000, 10470),
  noMessage: cmq(7000, 10200),
  sendFailed: cmq(6000, 10090),
  receiveFailed: cmq(6000, 10130),
  deleteFailed: cmq(6000, 10140),
  deletePartial: cmq(6010, 10150),
  deleteAllFailed: cmq(6020, 10290),
  queueRecreateTooSoon: cmq(6040, 10660),
  rewindDisabled: cmq(6050, 10670),
  rewindTimeInvalid: cmq(4000, 10680),
  rewindSecondsTooLarge: cmq(4000, 10700),
  tooManyInactive: cmq(6070, 10690),

  // Dead letters
  dlqPolicyNotJson: cmq(4000, 10710),
  dlqPolicyParams: cmq(4000, 10720),
  dlqNotExist: cmq(4000, 10730),
  dlqNested: cmq(4000, 10740),
  dlqDeleteInUse: cmq(4000, 10750),
  dlqPolicyQueueMember: cmq(4000, 10760),
  dlqPolicyPolicyMember: cmq(4000, 10770),
  dlqBindTooMany: cmq(4000, 10780),
  dlqNotAllowed: cmq(4000, 10790),
  queueTagsFull: cmq(4000, 10795),

  // Topics / subscriptions
  topicNotExist: cmq(4440, 10600),
  topicLimit: cmq(4450, 10610),
  topicNameFormat: cmq(4000, 10590),
  subscriptionNameFormat: cmq(4000, 10620),
  topicHasSubscriptions: cmq(4000, 10540),
  subscriptionExists: cmq(4490, 10470),
  subscriptionLimit: cmq(4500, 10480),
  topicNoSubscription: cmq(6030, 10650),
  topicNoMatch: cmq(6030, 10730),
  // "Topic exists" and "subscription does not exist" are undocumented (spec §1.6); these are our choices.
  topicExists: cmq(4460, 10660),
  subscriptionNotExist: cmq(4440, 10560),
  filterTagLimit: cmq(4000, 10490),
  filterTagTooMany: cmq(4000, 10670),
  endpointFormat: cmq(4000, 10500),
  endpointIllegal: cmq(4000, 10630),
  endpointBlank: cmq(4510, 10570),
  protocolUndefined: cmq(4000, 10510),
  notifyStrategyUndefined: cmq(4000, 10520),
  notifyContentFormatUndefined: cmq(4000, 10530),
  queueSubscriptionFormat: cmq(4000, 10640),
  bindingKeyMissing: cmq(4000, 10710),
  bindingKeyTooMany: cmq(4000, 10680),
  keyTooManyDelimiters: cmq(4000, 10691),
  routingKeyMissing: cmq(4000, 10700),
  msgTagTooMany: cmq(4000, 10720),
  filterTagOrBindingKeyTooMany: cmq(6050, 10740),

  // SQS wire: signature failures (seen by SQS clients only; these are their CMQ codes for the
  // metrics and the SDK's table).
  authMissing: cmq(4100, 10031),
  authIncomplete: cmq(4100, 10032),
  authExpired: cmq(4100, 10033),
  // SQS actions: CMQ codes for errors only the SQS API returns (an SQS client never sees them;
  // CMQ SDKs get a code in the ranges they already know).
  invalidParameterValue: cmq(4000, 10900),
  invalidAddress: cmq(4000, 10901),
  invalidAttributeName: cmq(4000, 10902),
  invalidAttributeValue: cmq(4000, 10903),
  invalidMessageContents: cmq(4000, 10904),
  emptyBatchRequest: cmq(4000, 10905),
  tooManyEntriesInBatch: cmq(4000, 10906),
  batchEntryIdsNotDistinct: cmq(4000, 10907),
  invalidBatchEntryId: cmq(4000, 10908),
  messageNotInflight: cmq(4430, 10909),
  unsupportedOperation: cmq(4000, 10911),
  // FIFO queues (SQS API): our module codes.
  fifoImmutable: cmq(4000, 10840),
  fifoGroupIdRequired: cmq(4000, 10841),
  fifoMessageDelay: cmq(4000, 10842),
  // Dead-letter redrive and message move tasks: undocumented in CMQ, our codes.
  moveSameQueue: cmq(4000, 10960),
  moveSourceNotDlq: cmq(4000, 10920),
  moveTaskRunning: cmq(4000, 10930),
  moveTaskNotExist: cmq(4440, 10940),
  moveTaskNotRunning: cmq(4000, 10950),
  moveFifo: cmq(4000, 10970),
  crossSetMove: cmq(4000, 10980),
  // Cluster controller: not CMQ actions, our codes (notFound 4440, exists 4460, limit 4450 as CMQ's).
  setNotExist: cmq(4440, 11000),
  setExists: cmq(4460, 11010),
  setNotActive: cmq(4000, 11020),
  setHoldsEntity: cmq(4000, 11030),
  notEnoughSets: cmq(4450, 11040),
  routeChangeRunning: cmq(4000, 11050),
  routeChangeNotExist: cmq(4440, 11060),
  routeChangePhase: cmq(4000, 11070),
  queueNotEmpty: cmq(4000, 11090),
  queueMoveUnsupported: cmq(4000, 11100),
  // Queues of several shards: our code.
  shardedUnsupported: cmq(4000, 11080),
} as const satisfies Record<ErrorName, CmqCode>;

/** A registry entry with its CMQ codes: the shape the SDK has always exported as ERRORS. */
export type CmqErrorDef = CmqCode & ErrorDef;

/** Every error with its CMQ code, module code, kind and text (the SDK's public table). */
export const CMQ_ERRORS = Object.fromEntries(
  (Object.keys(ERRORS) as ErrorName[]).map((name) => [name, { ...CMQ_CODES[name], ...ERRORS[name] }]),
) as { readonly [N in ErrorName]: CmqErrorDef };

/** The `message` field of a CMQ response: `(module)text`, with `%s` filled from `arg`. */
export function errorMessage(name: ErrorName, arg?: string): string {
  return `(${CMQ_CODES[name].module})${errorText(name, arg)}`;
}
