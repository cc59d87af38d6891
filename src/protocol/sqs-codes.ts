// The SQS wire codes of every error in the registry (./errors.ts): what an SQS client sees. Each
// error has the query protocol's error code (`<Code>` in the XML answer, and the first half of
// the JSON protocol's `x-amzn-query-error` header, which current AWS SDKs read for SQS), the
// JSON protocol's `__type` shape name, the HTTP status, and whether the sender or the service is
// at fault. Modeled errors use the codes, shapes and statuses of the SQS service model (its
// `awsQueryError` traits); the rest use AWS's common errors (InvalidParameterValue,
// MissingParameter, InvalidAction, the signature errors, InternalFailure, ServiceUnavailable).
// Only the SQS protocol (api/sqs/) reads this table.

import type { ErrorName } from './errors';

export interface SqsCode {
  /** The query protocol's error code, e.g. 'AWS.SimpleQueueService.NonExistentQueue'. */
  readonly code: string;
  /** The JSON protocol's error shape, e.g. 'QueueDoesNotExist' (sent as `com.amazonaws.sqs#<shape>`). */
  readonly shape: string;
  readonly status: number;
  readonly fault: 'Sender' | 'Receiver';
}

function sqs(code: string, shape: string, status: number): SqsCode {
  return { code, shape, status, fault: status >= 500 ? 'Receiver' : 'Sender' };
}

/** A common error: code and shape are the same name. */
function common(name: string, status: number): SqsCode {
  return sqs(name, name, status);
}

/**
 * The modeled errors of the SQS API (service model 2012-11-05, its awsQueryError traits), by
 * shape name; the KMS ones are left out (no KMS here). Registry names map onto these or onto the
 * common errors below.
 */
export const SQS_MODELED_ERRORS = {
  BatchEntryIdsNotDistinct: sqs('AWS.SimpleQueueService.BatchEntryIdsNotDistinct', 'BatchEntryIdsNotDistinct', 400),
  BatchRequestTooLong: sqs('AWS.SimpleQueueService.BatchRequestTooLong', 'BatchRequestTooLong', 400),
  EmptyBatchRequest: sqs('AWS.SimpleQueueService.EmptyBatchRequest', 'EmptyBatchRequest', 400),
  InvalidAddress: sqs('InvalidAddress', 'InvalidAddress', 404),
  InvalidAttributeName: sqs('InvalidAttributeName', 'InvalidAttributeName', 400),
  InvalidAttributeValue: sqs('InvalidAttributeValue', 'InvalidAttributeValue', 400),
  InvalidBatchEntryId: sqs('AWS.SimpleQueueService.InvalidBatchEntryId', 'InvalidBatchEntryId', 400),
  InvalidIdFormat: sqs('InvalidIdFormat', 'InvalidIdFormat', 400),
  InvalidMessageContents: sqs('InvalidMessageContents', 'InvalidMessageContents', 400),
  InvalidSecurity: sqs('InvalidSecurity', 'InvalidSecurity', 403),
  MessageNotInflight: sqs('AWS.SimpleQueueService.MessageNotInflight', 'MessageNotInflight', 400),
  OverLimit: sqs('OverLimit', 'OverLimit', 403),
  PurgeQueueInProgress: sqs('AWS.SimpleQueueService.PurgeQueueInProgress', 'PurgeQueueInProgress', 403),
  QueueDeletedRecently: sqs('AWS.SimpleQueueService.QueueDeletedRecently', 'QueueDeletedRecently', 400),
  QueueDoesNotExist: sqs('AWS.SimpleQueueService.NonExistentQueue', 'QueueDoesNotExist', 400),
  QueueNameExists: sqs('QueueAlreadyExists', 'QueueNameExists', 400),
  ReceiptHandleIsInvalid: sqs('ReceiptHandleIsInvalid', 'ReceiptHandleIsInvalid', 404),
  RequestThrottled: sqs('RequestThrottled', 'RequestThrottled', 403),
  ResourceNotFoundException: sqs('ResourceNotFoundException', 'ResourceNotFoundException', 404),
  TooManyEntriesInBatchRequest: sqs('AWS.SimpleQueueService.TooManyEntriesInBatchRequest', 'TooManyEntriesInBatchRequest', 400),
  UnsupportedOperation: sqs('AWS.SimpleQueueService.UnsupportedOperation', 'UnsupportedOperation', 400),
} as const satisfies Record<string, SqsCode>;

const QUEUE_DOES_NOT_EXIST = SQS_MODELED_ERRORS.QueueDoesNotExist;
const QUEUE_NAME_EXISTS = SQS_MODELED_ERRORS.QueueNameExists;
const QUEUE_DELETED_RECENTLY = SQS_MODELED_ERRORS.QueueDeletedRecently;
const RECEIPT_HANDLE_IS_INVALID = SQS_MODELED_ERRORS.ReceiptHandleIsInvalid;
const OVER_LIMIT = SQS_MODELED_ERRORS.OverLimit;
const REQUEST_THROTTLED = SQS_MODELED_ERRORS.RequestThrottled;
const TOO_MANY_ENTRIES = SQS_MODELED_ERRORS.TooManyEntriesInBatchRequest;
const BATCH_REQUEST_TOO_LONG = SQS_MODELED_ERRORS.BatchRequestTooLong;
const RESOURCE_NOT_FOUND = SQS_MODELED_ERRORS.ResourceNotFoundException;

// AWS common errors.
const INVALID_PARAMETER_VALUE = common('InvalidParameterValue', 400);
const MISSING_PARAMETER = common('MissingParameter', 400);
const INVALID_ACTION = common('InvalidAction', 400);
const INVALID_CLIENT_TOKEN_ID = common('InvalidClientTokenId', 403);
const SIGNATURE_DOES_NOT_MATCH = common('SignatureDoesNotMatch', 403);
const MISSING_AUTHENTICATION_TOKEN = common('MissingAuthenticationToken', 403);
const INCOMPLETE_SIGNATURE = common('IncompleteSignature', 400);
const REQUEST_EXPIRED = common('RequestExpired', 400);
const INTERNAL_FAILURE = common('InternalFailure', 500);
const SERVICE_UNAVAILABLE = common('ServiceUnavailable', 503);

/** Exhaustive over the registry: a name without an SQS code does not compile. */
export const SQS_CODES = {
  // Common / auth / request
  invalidParams: INVALID_PARAMETER_VALUE,
  missingParams: MISSING_PARAMETER,
  authFailed: SIGNATURE_DOES_NOT_MATCH,
  internalError: INTERNAL_FAILURE,
  // Nothing applied: 503, which every AWS SDK retries.
  notApplied: SERVICE_UNAVAILABLE,
  // It may have been applied: 500 (the message says the outcome is unknown). SDKs retry a 500
  // too; SQS sends are at-least-once anyway, and FIFO sends carry a deduplication id.
  outcomeUnknown: INTERNAL_FAILURE,
  requestParamsError: INVALID_PARAMETER_VALUE,
  throttled: REQUEST_THROTTLED,
  secretIdNotExist: INVALID_CLIENT_TOKEN_ID,
  actionNotExist: INVALID_ACTION,
  paramKeyFormat: INVALID_PARAMETER_VALUE,
  paramNotRepeatable: INVALID_PARAMETER_VALUE,
  paramOutOfRange: INVALID_PARAMETER_VALUE,
  paramErrorType: INVALID_PARAMETER_VALUE,
  batchSizeOutOfRange: TOO_MANY_ENTRIES,
  paramNotConsecutive: INVALID_PARAMETER_VALUE,
  missingParam: MISSING_PARAMETER,
  httpMethod: INVALID_ACTION,
  cannotParse: INVALID_PARAMETER_VALUE,
  actionNameNotExist: INVALID_ACTION,
  secretIdNotAkid: INVALID_CLIENT_TOKEN_ID,

  // Queue
  queueNameFormat: INVALID_PARAMETER_VALUE,
  queueNotExist: QUEUE_DOES_NOT_EXIST,
  queueExists: QUEUE_NAME_EXISTS,
  queueLimit: OVER_LIMIT,
  msgTooLarge: INVALID_PARAMETER_VALUE,
  heapFull: OVER_LIMIT,
  receiptHandleInvalid: RECEIPT_HANDLE_IS_INVALID,
  batchTooLarge: BATCH_REQUEST_TOO_LONG,
  msgBodyEmpty: MISSING_PARAMETER,
  receiptHandleError: RECEIPT_HANDLE_IS_INVALID,
  // CMQ's empty receive: an SQS receive answers an empty list instead, never this.
  noMessage: INTERNAL_FAILURE,
  sendFailed: INTERNAL_FAILURE,
  receiveFailed: INTERNAL_FAILURE,
  deleteFailed: INTERNAL_FAILURE,
  // CMQ's batch outcomes: SQS batches report per entry in the action's output.
  deletePartial: INTERNAL_FAILURE,
  deleteAllFailed: INVALID_PARAMETER_VALUE,
  queueRecreateTooSoon: QUEUE_DELETED_RECENTLY,
  rewindDisabled: INVALID_PARAMETER_VALUE,
  rewindTimeInvalid: INVALID_PARAMETER_VALUE,
  rewindSecondsTooLarge: INVALID_PARAMETER_VALUE,
  // Too many messages in flight: SQS's OverLimit on ReceiveMessage.
  tooManyInactive: OVER_LIMIT,

  // Dead letters (SQS reports a bad RedrivePolicy as InvalidParameterValue).
  dlqPolicyNotJson: INVALID_PARAMETER_VALUE,
  dlqPolicyParams: INVALID_PARAMETER_VALUE,
  dlqNotExist: INVALID_PARAMETER_VALUE,
  dlqNested: INVALID_PARAMETER_VALUE,
  dlqDeleteInUse: INVALID_PARAMETER_VALUE,
  dlqPolicyQueueMember: INVALID_PARAMETER_VALUE,
  dlqPolicyPolicyMember: INVALID_PARAMETER_VALUE,
  dlqBindTooMany: OVER_LIMIT,
  dlqNotAllowed: INVALID_PARAMETER_VALUE,
  // AWS answers a 51st tag as an invalid parameter value.
  queueTagsFull: INVALID_PARAMETER_VALUE,

  // Topics / subscriptions: not reachable through the SQS API; mapped by kind.
  topicNotExist: RESOURCE_NOT_FOUND,
  topicLimit: OVER_LIMIT,
  topicNameFormat: INVALID_PARAMETER_VALUE,
  subscriptionNameFormat: INVALID_PARAMETER_VALUE,
  topicHasSubscriptions: INVALID_PARAMETER_VALUE,
  subscriptionExists: INVALID_PARAMETER_VALUE,
  subscriptionLimit: OVER_LIMIT,
  topicNoSubscription: INVALID_PARAMETER_VALUE,
  topicNoMatch: INVALID_PARAMETER_VALUE,
  topicExists: INVALID_PARAMETER_VALUE,
  subscriptionNotExist: RESOURCE_NOT_FOUND,
  filterTagLimit: INVALID_PARAMETER_VALUE,
  filterTagTooMany: INVALID_PARAMETER_VALUE,
  endpointFormat: INVALID_PARAMETER_VALUE,
  endpointIllegal: INVALID_PARAMETER_VALUE,
  endpointBlank: INVALID_PARAMETER_VALUE,
  protocolUndefined: INVALID_PARAMETER_VALUE,
  notifyStrategyUndefined: INVALID_PARAMETER_VALUE,
  notifyContentFormatUndefined: INVALID_PARAMETER_VALUE,
  queueSubscriptionFormat: INVALID_PARAMETER_VALUE,
  bindingKeyMissing: INVALID_PARAMETER_VALUE,
  bindingKeyTooMany: INVALID_PARAMETER_VALUE,
  keyTooManyDelimiters: INVALID_PARAMETER_VALUE,
  routingKeyMissing: INVALID_PARAMETER_VALUE,
  msgTagTooMany: INVALID_PARAMETER_VALUE,
  filterTagOrBindingKeyTooMany: INVALID_PARAMETER_VALUE,

  // SQS wire: Signature Version 4 failures.
  authMissing: MISSING_AUTHENTICATION_TOKEN,
  authIncomplete: INCOMPLETE_SIGNATURE,
  authExpired: REQUEST_EXPIRED,

  // SQS actions: request errors CMQ has no name for.
  invalidParameterValue: INVALID_PARAMETER_VALUE,
  invalidAddress: SQS_MODELED_ERRORS.InvalidAddress,
  invalidAttributeName: SQS_MODELED_ERRORS.InvalidAttributeName,
  invalidAttributeValue: SQS_MODELED_ERRORS.InvalidAttributeValue,
  invalidMessageContents: SQS_MODELED_ERRORS.InvalidMessageContents,
  emptyBatchRequest: SQS_MODELED_ERRORS.EmptyBatchRequest,
  tooManyEntriesInBatch: SQS_MODELED_ERRORS.TooManyEntriesInBatchRequest,
  batchEntryIdsNotDistinct: SQS_MODELED_ERRORS.BatchEntryIdsNotDistinct,
  invalidBatchEntryId: SQS_MODELED_ERRORS.InvalidBatchEntryId,
  messageNotInflight: SQS_MODELED_ERRORS.MessageNotInflight,
  unsupportedOperation: SQS_MODELED_ERRORS.UnsupportedOperation,

  // FIFO queues (SQS answers a missing MessageGroupId as MissingParameter).
  fifoImmutable: SQS_MODELED_ERRORS.InvalidAttributeValue,
  fifoGroupIdRequired: MISSING_PARAMETER,
  fifoMessageDelay: INVALID_PARAMETER_VALUE,

  // Message move tasks (StartMessageMoveTask and friends list ResourceNotFoundException and
  // UnsupportedOperation as their errors).
  moveSameQueue: INVALID_PARAMETER_VALUE,
  moveSourceNotDlq: INVALID_PARAMETER_VALUE,
  moveTaskRunning: SQS_MODELED_ERRORS.UnsupportedOperation,
  moveTaskNotExist: RESOURCE_NOT_FOUND,
  moveTaskNotRunning: SQS_MODELED_ERRORS.UnsupportedOperation,
  moveFifo: SQS_MODELED_ERRORS.UnsupportedOperation,
  crossSetMove: SQS_MODELED_ERRORS.UnsupportedOperation,

  // Cluster controller: not reachable through the SQS API; mapped by kind.
  setNotExist: RESOURCE_NOT_FOUND,
  setExists: INVALID_PARAMETER_VALUE,
  setNotActive: INVALID_PARAMETER_VALUE,
  setHoldsEntity: INVALID_PARAMETER_VALUE,
  notEnoughSets: OVER_LIMIT,
  routeChangeRunning: INVALID_PARAMETER_VALUE,
  routeChangeNotExist: RESOURCE_NOT_FOUND,
  routeChangePhase: INVALID_PARAMETER_VALUE,
  queueNotEmpty: INVALID_PARAMETER_VALUE,
  queueMoveUnsupported: SQS_MODELED_ERRORS.UnsupportedOperation,
  // Queues of several shards: what the SQS API cannot do with them either.
  shardedUnsupported: SQS_MODELED_ERRORS.UnsupportedOperation,
} as const satisfies Record<ErrorName, SqsCode>;
