// The opencmq TypeScript SDK: a client for the classic CMQ HTTP API, a Consumer helper and an
// in-memory fake for unit tests.

export { CmqClient, isIdempotentAction, attributeParams, type CmqClientOptions, type CallOptions } from './client';
export { Consumer, type ConsumerOptions, type ConsumerErrorHandler, type MessageHandler, type StopOptions } from './consumer';
export { CmqError, CmqNetworkError, errorNameFor, isCmqError, parseModuleCode, type NetworkErrorKind, type RequestOutcome } from './errors';
export { InMemoryCmq, type InMemoryCmqOptions } from './fake';
export { signString, stringToSign, type SignatureMethod } from './signature';
export type {
  BatchDeleteFailure,
  ClusterNodeStatus,
  BatchDeleteResult,
  CmqQueueApi,
  CmqTopicApi,
  CreateTopicOptions,
  DeadLetterPolicy,
  ListOptions,
  Message,
  NotifyContentFormat,
  NotifyStrategy,
  PublishOptions,
  QueueAttributes,
  QueueAttributesInput,
  QueueAttributesRequest,
  QueueList,
  QueueSummary,
  ReceiveOptions,
  RedriveOptions,
  SendOptions,
  SubscribeOptions,
  SubscriptionAttributes,
  SubscriptionAttributesInput,
  SubscriptionList,
  SubscriptionProtocol,
  SubscriptionSummary,
  TopicAttributes,
  TopicAttributesInput,
  TopicFilterType,
  TopicList,
  TopicSummary,
} from './types';
export { CLIENT_VERSION, REQUEST_CLIENT } from './version';
// Every error with its CMQ code, module code, kind and text.
export { CMQ_ERRORS as ERRORS, type CmqErrorDef } from '../protocol/cmq-codes';
export { type ErrorKind, type ErrorName } from '../protocol/errors';
