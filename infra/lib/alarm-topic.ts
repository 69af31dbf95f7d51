import { CfnCondition, CfnParameter, Duration, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

/**
 * The topic every alarm notifies, built so that CloudWatch can really
 * deliver to it:
 * - encrypted with a key of our own: CloudWatch cannot use the AWS managed
 *   `alias/aws/sns` key, whose policy cannot be changed, and needs
 *   `kms:Decrypt` and `kms:GenerateDataKey*` on the topic's key ("Enable
 *   compatibility between event sources from AWS services and encrypted
 *   topics", Amazon SNS Developer Guide, key management);
 * - a topic policy that lets `cloudwatch.amazonaws.com` publish, for this
 *   account's alarms only;
 * - a subscriber: the `AlarmEmail` parameter subscribes an address (SNS
 *   mails it a confirmation link); other subscribers: README.md.
 */
export class AlarmTopic extends Construct {
  readonly topic: sns.Topic;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const stack = Stack.of(this);
    const fromOurAlarms = {
      StringEquals: { 'aws:SourceAccount': stack.account },
      ArnLike: { 'aws:SourceArn': `arn:${stack.partition}:cloudwatch:${stack.region}:${stack.account}:alarm:*` },
    };
    const key = new kms.Key(this, 'Key', {
      description: 'ecommerce-service alarm topic: CloudWatch may encrypt alarm notifications with it',
      enableKeyRotation: true,
      // Alarm notifications are transient: nothing stays encrypted under it.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    key.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsPublish',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
      conditions: fromOurAlarms,
    }));
    this.topic = new sns.Topic(this, 'Alarms', {
      displayName: 'ecommerce-service alarms',
      masterKey: key,
      enforceSSL: true,
    });
    this.topic.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsPublish',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [this.topic.topicArn],
      conditions: fromOurAlarms,
    }));

    const email = new CfnParameter(stack, 'AlarmEmail', {
      type: 'String',
      default: '',
      allowedPattern: '^$|^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$',
      description: 'An address to receive the alarms (SNS sends it a confirmation link); empty for none',
    });
    const hasEmail = new CfnCondition(this, 'HasAlarmEmail', {
      expression: Fn.conditionNot(Fn.conditionEquals(email.valueAsString, '')),
    });
    const subscription = new sns.CfnSubscription(this, 'EmailSubscription', {
      topicArn: this.topic.topicArn,
      protocol: 'email',
      endpoint: email.valueAsString,
    });
    subscription.cfnOptions.condition = hasEmail;
  }
}
