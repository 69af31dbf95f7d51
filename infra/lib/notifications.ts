import { Duration, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as pipes from 'aws-cdk-lib/aws-pipes';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledge } from './nag';

/** Order change records reach the service like this: table stream → Pipe
 * (INSERT/MODIFY of order items only) → SQS queue (with a DLQ) → the
 * service's consumer, which publishes to the topic and the bus. */
export const ORDER_CHANGE_FILTER = {
  eventName: ['INSERT', 'MODIFY'],
  dynamodb: { Keys: { SK: { S: [{ prefix: '#ORDER#' }] } } },
};

export interface NotificationsProps {
  readonly table: dynamodb.ITable;
  /** Start at the stream's newest record instead of its oldest: on a table
   * another system wrote (a cut-over), its last 24 hours of changes were
   * notified by that system already. */
  readonly fromLatest?: boolean;
}

export class Notifications extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly pipeDeadLetterQueue: sqs.Queue;
  readonly topic: sns.Topic;
  readonly bus: events.EventBus;
  readonly pipe: pipes.CfnPipe;
  /** The Pipe's role: it reads the table's stream. */
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: NotificationsProps) {
    super(scope, id);
    const queueDefaults = {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    };

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      ...queueDefaults,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      ...queueDefaults,
      // Longer than the consumer may take to publish one batch.
      visibilityTimeout: Duration.seconds(60),
      retentionPeriod: Duration.days(4),
      // A few retries ride out a publishing outage; a poison message still
      // leaves the queue instead of blocking it forever.
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: 5 },
    });
    this.pipeDeadLetterQueue = new sqs.Queue(this, 'PipeDeadLetterQueue', {
      ...queueDefaults,
      retentionPeriod: Duration.days(14),
    });
    acknowledge(this.pipeDeadLetterQueue, 'SQS3', 'This queue is the Pipe\'s dead-letter target (a Pipe setting, not an SQS redrive policy).');

    this.topic = new sns.Topic(this, 'OrderTopic', {
      displayName: 'Order notifications',
      masterKey: kms.Alias.fromAliasName(this, 'SnsKey', 'alias/aws/sns'),
      enforceSSL: true,
    });
    this.bus = new events.EventBus(this, 'DomainEvents', {
      description: 'Domain events of ecommerce-service (source ecommerce.orders)',
    });

    const role = this.role = new iam.Role(this, 'PipeRole', {
      assumedBy: new iam.ServicePrincipal('pipes.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    });
    props.table.grantStreamRead(role);
    acknowledge(role, 'IAM5[Resource::*]', 'dynamodb:ListStreams cannot be scoped to a resource; every other stream action is scoped to this table\'s stream.');
    this.queue.grantSendMessages(role);
    this.pipeDeadLetterQueue.grantSendMessages(role);

    this.pipe = new pipes.CfnPipe(this, 'OrderChanges', {
      description: 'Order item changes from the table stream to the notifications queue',
      roleArn: role.roleArn,
      source: props.table.tableStreamArn!,
      sourceParameters: {
        dynamoDbStreamParameters: {
          // From the oldest record the stream keeps: changes made while the
          // Pipe is created or replaced are not skipped. A record read
          // twice is published twice, and events carry an id to drop it by.
          startingPosition: props.fromLatest ? 'LATEST' : 'TRIM_HORIZON',
          batchSize: 10,
          maximumRetryAttempts: 10,
          deadLetterConfig: { arn: this.pipeDeadLetterQueue.queueArn },
        },
        filterCriteria: { filters: [{ pattern: JSON.stringify(ORDER_CHANGE_FILTER) }] },
      },
      target: this.queue.queueArn,
    });
    // Without this, CloudFormation may create the Pipe before its role's
    // permissions exist, and the Pipe fails to start.
    const policy = role.node.tryFindChild('DefaultPolicy');
    if (policy) this.pipe.node.addDependency(policy);
  }
}
