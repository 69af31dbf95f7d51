import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { Notifications } from './notifications';

/** The namespace of the service's EMF metrics and its error-line filter. */
const SERVICE_NAMESPACE = 'EcommerceService';

export interface MonitoringProps {
  readonly serviceLogs: logs.ILogGroup;
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly targetGroup: elbv2.ApplicationTargetGroup;
  readonly table: dynamodb.Table;
  readonly notifications: Notifications;
  readonly service: ecs.FargateService;
}

/** The seed alarmed on errors in the logs; this adds the signals an on-call
 * engineer needs, all sent to one monitoring topic, and a dashboard. */
export class Monitoring extends Construct {
  readonly topic: sns.Topic;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    this.topic = new sns.Topic(this, 'Alarms', {
      displayName: 'ecommerce-service alarms',
      masterKey: kms.Alias.fromAliasName(this, 'SnsKey', 'alias/aws/sns'),
      enforceSSL: true,
    });
    const five = Duration.minutes(5);
    const one = Duration.minutes(1);

    // The service logs every error once, at ERROR, as a JSON line.
    const errorLines = new logs.MetricFilter(this, 'ErrorLines', {
      logGroup: props.serviceLogs,
      filterPattern: logs.FilterPattern.stringValue('$.level', '=', 'ERROR'),
      metricNamespace: SERVICE_NAMESPACE,
      metricName: 'ErrorLogLines',
      metricValue: '1',
      defaultValue: 0,
    });
    const errors = errorLines.metric({ statistic: 'Sum', period: five });
    this.alarm('LoggedErrors', errors, 1, 'The service logged errors');

    const alb = props.loadBalancer.metrics;
    const target5xx = props.targetGroup.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, { period: five });
    const elb5xx = alb.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, { period: five });
    this.alarm('Target5xx', target5xx, 5, 'The service answered 5xx');
    this.alarm('LoadBalancer5xx', elb5xx, 5, 'The load balancer answered 5xx (no healthy target?)');
    const p99 = props.targetGroup.metrics.targetResponseTime({ statistic: 'p99', period: five });
    this.alarm('LatencyP99', p99, 0.5, 'p99 latency above 500 ms', 3);

    const queues = props.notifications;
    const dlqDepth = queues.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: one, statistic: 'Maximum' });
    const pipeDlqDepth = queues.pipeDeadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: one, statistic: 'Maximum' });
    const oldest = queues.queue.metricApproximateAgeOfOldestMessage({ period: one, statistic: 'Maximum' });
    this.alarm('NotificationsDeadLetters', dlqDepth, 1, 'Order notifications landed in the dead-letter queue');
    this.alarm('PipeDeadLetters', pipeDlqDepth, 1, 'Stream records the Pipe could not deliver');
    this.alarm('NotificationsBacklog', oldest, 300, 'Order notifications waiting more than 5 minutes', 3);
    const pipeFailures = new cloudwatch.Metric({
      namespace: 'AWS/EventBridge/Pipes',
      metricName: 'ExecutionFailed',
      dimensionsMap: { PipeName: queues.pipe.ref },
      statistic: 'Sum',
      period: five,
    });
    this.alarm('PipeFailures', pipeFailures, 1, 'The order-changes Pipe failed executions');

    const throttled = new cloudwatch.MathExpression({
      expression: 'reads + writes',
      usingMetrics: {
        reads: props.table.metric('ReadThrottleEvents', { statistic: 'Sum', period: five }),
        writes: props.table.metric('WriteThrottleEvents', { statistic: 'Sum', period: five }),
      },
      period: five,
      label: 'Throttled requests',
    });
    this.alarm('DynamoDbThrottles', throttled, 1, 'DynamoDB throttled requests');

    new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
      widgets: [
        [
          new cloudwatch.GraphWidget({ title: 'Requests', left: [alb.requestCount({ period: one })] }),
          new cloudwatch.GraphWidget({ title: '5xx', left: [target5xx, elb5xx] }),
          new cloudwatch.GraphWidget({
            title: 'Latency',
            left: ['p50', 'p99'].map((statistic) => props.targetGroup.metrics.targetResponseTime({ statistic, period: one })),
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Tasks: CPU and memory',
            left: [props.service.metricCpuUtilization({ period: one }), props.service.metricMemoryUtilization({ period: one })],
          }),
          new cloudwatch.GraphWidget({ title: 'Errors logged', left: [errors] }),
          new cloudwatch.GraphWidget({ title: 'DynamoDB throttles', left: [throttled] }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'Notifications: oldest message (s)', left: [oldest] }),
          new cloudwatch.GraphWidget({ title: 'Dead letters', left: [dlqDepth, pipeDlqDepth] }),
          new cloudwatch.GraphWidget({ title: 'Pipe failures', left: [pipeFailures] }),
        ],
        // What the service itself reports (EMF lines; src/telemetry/metrics.rs).
        [
          serviceGraph('Requests by route and status class', 'Route,StatusClass', 'Requests', 'Sum'),
          serviceGraph('Latency p99 by route (ms)', 'Route,StatusClass', 'Latency', 'p99'),
          serviceGraph('Storage latency p99 by operation (ms)', 'Engine,Operation', 'StorageLatency', 'p99'),
        ],
        [
          serviceGraph('Storage errors by operation', 'Engine,Operation', 'StorageErrors', 'Sum'),
          serviceGraph('Notifications published by event type', 'EventType', 'NotificationsPublished', 'Sum'),
          serviceGraph('Notifications failed by event type', 'EventType', 'NotificationsFailed', 'Sum'),
        ],
        [
          serviceGraph('Notification lag p99 (ms)', 'EventType', 'NotificationLag', 'p99'),
          serviceGraph('Consumer batch size (average)', 'Consumer', 'BatchSize', 'Average'),
        ],
      ],
    });
  }

  private alarm(id: string, metric: cloudwatch.IMetric, threshold: number, description: string, periods = 1) {
    const alarm = new cloudwatch.Alarm(this, id, {
      metric,
      threshold,
      evaluationPeriods: periods,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: description,
    });
    alarm.addAlarmAction(new actions.SnsAction(this.topic));
    alarm.addOkAction(new actions.SnsAction(this.topic));
    this.alarms.push(alarm);
  }
}

/** One line per dimension value (routes, operations, event types: bounded
 * sets), found by a search so a new route needs no dashboard change. */
function serviceGraph(title: string, dimensions: string, metricName: string, statistic: string): cloudwatch.GraphWidget {
  return new cloudwatch.GraphWidget({
    title,
    left: [new cloudwatch.MathExpression({
      expression: `SEARCH('{${SERVICE_NAMESPACE},${dimensions}} MetricName="${metricName}"', '${statistic}', 60)`,
      usingMetrics: {},
      period: Duration.minutes(1),
      label: '',
    })],
  });
}
