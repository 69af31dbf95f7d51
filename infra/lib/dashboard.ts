import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { SERVICE_NAMESPACE } from './config';
import type { MonitoringProps } from './monitoring';

export interface DashboardProps extends MonitoringProps {
  readonly requests: cloudwatch.IMetric;
  readonly target5xx: cloudwatch.IMetric;
  readonly elb5xx: cloudwatch.IMetric;
  readonly errors: cloudwatch.IMetric;
  readonly throttled: cloudwatch.IMetric;
  readonly gsi1Throttled: cloudwatch.IMetric;
  readonly gsi2Throttled: cloudwatch.IMetric;
  readonly oldest: cloudwatch.IMetric;
  readonly dlqDepth: cloudwatch.IMetric;
  readonly pipeDlqDepth: cloudwatch.IMetric;
  readonly pipeFailures: cloudwatch.IMetric;
}

/** One page for the on-call engineer: the balancer, the tasks, the table,
 * the notifications path, and what the service reports about itself. */
export class Dashboard extends Construct {
  constructor(scope: Construct, id: string, props: DashboardProps) {
    super(scope, id);
    const one = Duration.minutes(1);
    new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
      widgets: [
        [
          new cloudwatch.GraphWidget({ title: 'Requests', left: [props.requests] }),
          new cloudwatch.GraphWidget({ title: '5xx', left: [props.target5xx, props.elb5xx] }),
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
          new cloudwatch.GraphWidget({ title: 'Errors logged', left: [props.errors] }),
          new cloudwatch.GraphWidget({ title: 'DynamoDB throttles (table, GSI1, GSI2)', left: [props.throttled, props.gsi1Throttled, props.gsi2Throttled] }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'Notifications: oldest message (s)', left: [props.oldest] }),
          new cloudwatch.GraphWidget({ title: 'Dead letters', left: [props.dlqDepth, props.pipeDlqDepth] }),
          new cloudwatch.GraphWidget({ title: 'Pipe failures', left: [props.pipeFailures] }),
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
