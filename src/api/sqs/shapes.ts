// The request and response shapes of the SQS API (version 2012-11-05), as much of the AWS service
// model as the wire needs: the member names of the JSON 1.0 protocol, and where the query protocol
// names them differently (its flattened lists and maps: `AttributeName.1`, `Attribute.1.Name`,
// `SendMessageBatchRequestEntry.1.Id`). ./query-input.ts rebuilds a JSON input from a query
// request with it, checks a JSON input's types with it, and ./xml-output.ts renders a JSON output
// as the query protocol's XML with it. Members are listed in the model's order, which is the
// order of the XML elements.

export type SqsScalar = { readonly t: 'string' } | { readonly t: 'integer' } | { readonly t: 'long' } | { readonly t: 'boolean' } | { readonly t: 'blob' };

export interface SqsList {
  readonly t: 'list';
  readonly of: SqsShape;
  /** The query/XML name of each item (the model's member locationName; default 'member'). */
  readonly item?: string;
  /** Flattened: the items stand in the structure under `item`, not inside an element of their own. */
  readonly flat: boolean;
}

export interface SqsMap {
  readonly t: 'map';
  readonly of: SqsShape;
  /** The query/XML names of an entry's key and value. */
  readonly key: string;
  readonly value: string;
  /** Every SQS map is flattened: `Name.N.Key`, not `Name.entry.N.key`. */
  readonly flat: boolean;
}

export interface SqsStruct {
  readonly t: 'struct';
  readonly members: Readonly<Record<string, SqsMember>>;
}

export type SqsShape = SqsScalar | SqsList | SqsMap | SqsStruct;

export interface SqsMember {
  readonly shape: SqsShape;
  /** The query/XML name when it differs from the JSON member name (the model's locationName). */
  readonly name?: string;
}

const STRING: SqsScalar = { t: 'string' };
const INTEGER: SqsScalar = { t: 'integer' };
const LONG: SqsScalar = { t: 'long' };
const BOOLEAN: SqsScalar = { t: 'boolean' };
const BLOB: SqsScalar = { t: 'blob' };

function struct(members: Record<string, SqsShape | SqsMember>): SqsStruct {
  const out: Record<string, SqsMember> = {};
  for (const [k, v] of Object.entries(members)) out[k] = 'shape' in v ? v : { shape: v };
  return { t: 'struct', members: out };
}
/** A member whose query/XML name is not its JSON name. */
function named(name: string, shape: SqsShape): SqsMember {
  return { shape, name };
}
function flatList(item: string, of: SqsShape = STRING): SqsList {
  return { t: 'list', of, item, flat: true };
}
function flatMap(of: SqsShape, key = 'Name', value = 'Value'): SqsMap {
  return { t: 'map', of, key, value, flat: true };
}

// ---- shared shapes ----

/** QueueAttributeMap, MessageSystemAttributeMap: `Attribute.N.Name` / `Attribute.N.Value`. */
const ATTRIBUTE_MAP = named('Attribute', flatMap(STRING));
/** TagMap: `Tag.N.Key` / `Tag.N.Value`. */
const TAG_MAP = named('Tag', flatMap(STRING, 'Key', 'Value'));

/** MessageAttributeValue and MessageSystemAttributeValue (the same members). */
const ATTRIBUTE_VALUE = struct({
  StringValue: STRING,
  BinaryValue: BLOB,
  // Reserved by AWS for future use; carried, not interpreted.
  StringListValues: named('StringListValue', { t: 'list', of: STRING, item: 'StringListValue', flat: false }),
  BinaryListValues: named('BinaryListValue', { t: 'list', of: BLOB, item: 'BinaryListValue', flat: false }),
  DataType: STRING,
});
/** MessageBodyAttributeMap: `MessageAttribute.N.Name` / `MessageAttribute.N.Value.StringValue`. */
const MESSAGE_ATTRIBUTES = named('MessageAttribute', flatMap(ATTRIBUTE_VALUE));
/** MessageBodySystemAttributeMap: `MessageSystemAttribute.N.Name` / `.Value.StringValue`. */
const MESSAGE_SYSTEM_ATTRIBUTES = named('MessageSystemAttribute', flatMap(ATTRIBUTE_VALUE));

const BATCH_RESULT_ERROR_ENTRIES = flatList(
  'BatchResultErrorEntry',
  struct({ Id: STRING, SenderFault: BOOLEAN, Code: STRING, Message: STRING }),
);
const QUEUE_URLS = flatList('QueueUrl');

const SEND_FIELDS = {
  MessageBody: STRING,
  DelaySeconds: INTEGER,
  MessageAttributes: MESSAGE_ATTRIBUTES,
  MessageSystemAttributes: MESSAGE_SYSTEM_ATTRIBUTES,
  MessageDeduplicationId: STRING,
  MessageGroupId: STRING,
};
const SEND_RESULT_FIELDS = {
  MD5OfMessageBody: STRING,
  MD5OfMessageAttributes: STRING,
  MD5OfMessageSystemAttributes: STRING,
  MessageId: STRING,
  SequenceNumber: STRING,
};

const MESSAGE = struct({
  MessageId: STRING,
  ReceiptHandle: STRING,
  MD5OfBody: STRING,
  Body: STRING,
  Attributes: ATTRIBUTE_MAP,
  MD5OfMessageAttributes: STRING,
  MessageAttributes: MESSAGE_ATTRIBUTES,
});

export interface SqsOperation {
  readonly input: SqsStruct;
  /** Absent: the action has no output (its XML answer is ResponseMetadata alone). */
  readonly output?: SqsStruct;
}

/** Every action of the API, with its input and output shapes. */
export const SQS_OPERATIONS = {
  AddPermission: {
    input: struct({ QueueUrl: STRING, Label: STRING, AWSAccountIds: flatList('AWSAccountId'), Actions: flatList('ActionName') }),
  },
  CancelMessageMoveTask: {
    input: struct({ TaskHandle: STRING }),
    output: struct({ ApproximateNumberOfMessagesMoved: LONG }),
  },
  ChangeMessageVisibility: {
    input: struct({ QueueUrl: STRING, ReceiptHandle: STRING, VisibilityTimeout: INTEGER }),
  },
  ChangeMessageVisibilityBatch: {
    input: struct({
      QueueUrl: STRING,
      Entries: flatList('ChangeMessageVisibilityBatchRequestEntry', struct({ Id: STRING, ReceiptHandle: STRING, VisibilityTimeout: INTEGER })),
    }),
    output: struct({
      Successful: flatList('ChangeMessageVisibilityBatchResultEntry', struct({ Id: STRING })),
      Failed: BATCH_RESULT_ERROR_ENTRIES,
    }),
  },
  CreateQueue: {
    input: struct({ QueueName: STRING, Attributes: ATTRIBUTE_MAP, tags: TAG_MAP }),
    output: struct({ QueueUrl: STRING }),
  },
  DeleteMessage: {
    input: struct({ QueueUrl: STRING, ReceiptHandle: STRING }),
  },
  DeleteMessageBatch: {
    input: struct({
      QueueUrl: STRING,
      Entries: flatList('DeleteMessageBatchRequestEntry', struct({ Id: STRING, ReceiptHandle: STRING })),
    }),
    output: struct({
      Successful: flatList('DeleteMessageBatchResultEntry', struct({ Id: STRING })),
      Failed: BATCH_RESULT_ERROR_ENTRIES,
    }),
  },
  DeleteQueue: {
    input: struct({ QueueUrl: STRING }),
  },
  GetQueueAttributes: {
    input: struct({ QueueUrl: STRING, AttributeNames: flatList('AttributeName') }),
    output: struct({ Attributes: ATTRIBUTE_MAP }),
  },
  GetQueueUrl: {
    input: struct({ QueueName: STRING, QueueOwnerAWSAccountId: STRING }),
    output: struct({ QueueUrl: STRING }),
  },
  ListDeadLetterSourceQueues: {
    input: struct({ QueueUrl: STRING, NextToken: STRING, MaxResults: INTEGER }),
    // Lower-case in the model, as written here: the JSON member is `queueUrls`.
    output: struct({ queueUrls: QUEUE_URLS, NextToken: STRING }),
  },
  ListMessageMoveTasks: {
    input: struct({ SourceArn: STRING, MaxResults: INTEGER }),
    output: struct({
      Results: flatList(
        'ListMessageMoveTasksResultEntry',
        struct({
          TaskHandle: STRING,
          Status: STRING,
          SourceArn: STRING,
          DestinationArn: STRING,
          MaxNumberOfMessagesPerSecond: INTEGER,
          ApproximateNumberOfMessagesMoved: LONG,
          ApproximateNumberOfMessagesToMove: LONG,
          FailureReason: STRING,
          StartedTimestamp: LONG,
        }),
      ),
    }),
  },
  ListQueueTags: {
    input: struct({ QueueUrl: STRING }),
    output: struct({ Tags: TAG_MAP }),
  },
  ListQueues: {
    input: struct({ QueueNamePrefix: STRING, NextToken: STRING, MaxResults: INTEGER }),
    output: struct({ QueueUrls: QUEUE_URLS, NextToken: STRING }),
  },
  PurgeQueue: {
    input: struct({ QueueUrl: STRING }),
  },
  ReceiveMessage: {
    input: struct({
      QueueUrl: STRING,
      AttributeNames: flatList('AttributeName'),
      MessageSystemAttributeNames: flatList('MessageSystemAttributeName'),
      MessageAttributeNames: flatList('MessageAttributeName'),
      MaxNumberOfMessages: INTEGER,
      VisibilityTimeout: INTEGER,
      WaitTimeSeconds: INTEGER,
      ReceiveRequestAttemptId: STRING,
    }),
    output: struct({ Messages: flatList('Message', MESSAGE) }),
  },
  RemovePermission: {
    input: struct({ QueueUrl: STRING, Label: STRING }),
  },
  SendMessage: {
    input: struct({ QueueUrl: STRING, ...SEND_FIELDS }),
    output: struct(SEND_RESULT_FIELDS),
  },
  SendMessageBatch: {
    input: struct({
      QueueUrl: STRING,
      Entries: flatList('SendMessageBatchRequestEntry', struct({ Id: STRING, ...SEND_FIELDS })),
    }),
    output: struct({
      Successful: flatList('SendMessageBatchResultEntry', struct({ Id: STRING, ...SEND_RESULT_FIELDS })),
      Failed: BATCH_RESULT_ERROR_ENTRIES,
    }),
  },
  SetQueueAttributes: {
    input: struct({ QueueUrl: STRING, Attributes: ATTRIBUTE_MAP }),
  },
  StartMessageMoveTask: {
    input: struct({ SourceArn: STRING, DestinationArn: STRING, MaxNumberOfMessagesPerSecond: INTEGER }),
    output: struct({ TaskHandle: STRING }),
  },
  TagQueue: {
    input: struct({ QueueUrl: STRING, Tags: TAG_MAP }),
  },
  UntagQueue: {
    input: struct({ QueueUrl: STRING, TagKeys: flatList('TagKey') }),
  },
} as const satisfies Record<string, SqsOperation>;

export type SqsActionName = keyof typeof SQS_OPERATIONS;

/** The operation of an action name as the client spelled it (exactly: SQS action names are case-sensitive). */
export function sqsOperation(action: string): SqsOperation | undefined {
  return Object.prototype.hasOwnProperty.call(SQS_OPERATIONS, action) ? (SQS_OPERATIONS as Record<string, SqsOperation>)[action] : undefined;
}
