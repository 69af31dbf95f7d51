import { Duration } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { AlarmTopic } from './alarm-topic';
import { SERVICE_NAMESPACE } from './config';
import { Dashboard } from './dashboard';
import { Notifications } from './notifications';

export interface MonitoringProps {
  readonly serviceLogs: logs.ILogGroup;
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly targetGroup: elbv2.ApplicationTargetGroup;
  /** The HTTP API in front of the balancer, when that is the front door. */
  readonly api?: apigw.HttpApi;
  readonly table: dynamodb.ITable;
  readonly notifications: Notifications;
  readonly service: ecs.FargateService;
  /** The service's minimum task count: fewer running is an alarm. */
  readonly minTasks: number;
}

/** The seed alarmed on errors in the logs; this adds the signals an on-call
 * engineer needs, all sent to one monitoring topic, and a dashboard. */
export class Monitoring extends Construct {
  readonly topic: sns.Topic;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    this.topic = new AlarmTopic(this, 'AlarmTopic').topic;
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
    if (props.api) {
      // What clients of the HTTP API saw, the VPC link and the gateway included.
      const api5xx = props.api.metricServerError({ period: five, statistic: 'Sum' });
      this.alarm('Api5xx', api5xx, 5, 'The HTTP API answered 5xx');
    }
    const p99 = props.targetGroup.metrics.targetResponseTime({ statistic: 'p99', period: five });
    this.alarm('LatencyP99', p99, 0.5, 'p99 latency above 500 ms', 3);

    // Targets failing their health check (the process, not DynamoDB: /health/live).
    const unhealthy = props.targetGroup.metrics.unhealthyHostCount({ period: one, statistic: 'Maximum' });
    this.alarm('UnhealthyTargets', unhealthy, 1, 'A task fails the load balancer health check', 3);
    // Container Insights: fewer tasks running than the service's minimum.
    const running = new cloudwatch.Metric({
      namespace: 'ECS/ContainerInsights',
      metricName: 'RunningTaskCount',
      dimensionsMap: { ClusterName: props.service.cluster.clusterName, ServiceName: props.service.serviceName },
      statistic: 'Minimum',
      period: one,
    });
    this.alarm('RunningTasksBelowMinimum', running, props.minTasks, `Fewer than ${props.minTasks} tasks running`, 3,
      cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD, cloudwatch.TreatMissingData.BREACHING);

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
    // A Pipe that stopped (by hand, as the cut-over runbook does, or by
    // itself after sustained errors: "Amazon EventBridge Pipes error
    // handling") reports no failures at all: it reports nothing. Orders
    // placed while the Pipe delivered no event for 15 minutes say so. Both
    // metrics are absent when there is nothing to count (Pipes metrics are
    // also best-effort: "Logging and monitoring Amazon EventBridge Pipes"),
    // so each counts as 0 when missing.
    const pipeSilent = pipeSilentWhileOrdersArePlaced(queues.pipe.ref, Duration.minutes(15));
    this.alarm('PipeSilent', pipeSilent, 1, 'Orders were placed but the Pipe delivered no event for 15 minutes (stopped or disabled?)',
      1, cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD, cloudwatch.TreatMissingData.BREACHING);

    const throttled = throttleEvents(props.table, five);
    this.alarm('DynamoDbThrottles', throttled, 1, 'DynamoDB throttled requests on the table');
    // GSI1 throttling is reported under the index's own dimension; a
    // throttled index write also throttles the table write that caused it.
    const gsi1Throttled = throttleEvents(props.table, five, 'GSI1');
    this.alarm('Gsi1Throttles', gsi1Throttled, 1, 'DynamoDB throttled requests on GSI1');
    // GSI2 takes a write with every placement and two with every move; a
    // hot shard shows here first.
    const gsi2Throttled = throttleEvents(props.table, five, 'GSI2');
    this.alarm('Gsi2Throttles', gsi2Throttled, 1, 'DynamoDB throttled requests on GSI2 (the status queue)');

    new Dashboard(this, 'Dashboard', {
      ...props,
      requests: alb.requestCount({ period: one }),
      target5xx,
      elb5xx,
      errors,
      throttled,
      gsi1Throttled,
      gsi2Throttled,
      oldest,
      dlqDepth,
      pipeDlqDepth,
      pipeFailures,
    });
  }

  private alarm(
    id: string,
    metric: cloudwatch.IMetric,
    threshold: number,
    description: string,
    periods = 1,
    comparison = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    missingData = cloudwatch.TreatMissingData.NOT_BREACHING,
  ) {
    const alarm = new cloudwatch.Alarm(this, id, {
      metric,
      threshold,
      evaluationPeriods: periods,
      comparisonOperator: comparison,
      treatMissingData: missingData,
      alarmDescription: description,
    });
    alarm.addAlarmAction(new actions.SnsAction(this.topic));
    alarm.addOkAction(new actions.SnsAction(this.topic));
    this.alarms.push(alarm);
  }
}

/** 1 when the service answered a placement with 201 and the Pipe counted no
 * event over `period`, else 0. The placements are the service's own EMF
 * metric (`Requests`, by route and status class; a route with a trailing
 * slash is its own series). */
function pipeSilentWhileOrdersArePlaced(pipeName: string, period: Duration): cloudwatch.MathExpression {
  const placements = (route: string) => new cloudwatch.Metric({
    namespace: SERVICE_NAMESPACE,
    metricName: 'Requests',
    dimensionsMap: { Route: route, StatusClass: '2xx' },
    statistic: 'Sum',
    period,
  });
  return new cloudwatch.MathExpression({
    expression: 'IF((FILL(placed, 0) + FILL(placedSlash, 0)) > 0 AND FILL(delivered, 0) == 0, 1, 0)',
    usingMetrics: {
      placed: placements('POST /orders'),
      placedSlash: placements('POST /orders/'),
      delivered: new cloudwatch.Metric({
        namespace: 'AWS/EventBridge/Pipes',
        metricName: 'EventCount',
        dimensionsMap: { PipeName: pipeName },
        statistic: 'Sum',
        period,
      }),
    },
    period,
    label: 'Orders placed, no Pipe event',
  });
}

/** Read plus write throttle events of the table, or of one of its indexes. */
function throttleEvents(table: dynamodb.ITable, period: Duration, index?: string): cloudwatch.MathExpression {
  const dimensionsMap: cloudwatch.DimensionsMap = { TableName: table.tableName };
  if (index) dimensionsMap.GlobalSecondaryIndexName = index;
  // Ids unique per index: one graph shows the table's and the indexes' together.
  const [reads, writes] = index ? [`${index.toLowerCase()}Reads`, `${index.toLowerCase()}Writes`] : ['reads', 'writes'];
  return new cloudwatch.MathExpression({
    expression: `${reads} + ${writes}`,
    usingMetrics: {
      [reads]: table.metric('ReadThrottleEvents', { statistic: 'Sum', period, dimensionsMap }),
      [writes]: table.metric('WriteThrottleEvents', { statistic: 'Sum', period, dimensionsMap }),
    },
    period,
    label: index ? `Throttled requests on ${index}` : 'Throttled requests',
  });
}
