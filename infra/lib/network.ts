import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export const VPC_CIDR = '10.40.0.0/16';
export const AVAILABILITY_ZONES = 2;

/**
 * Two AZs, tasks in private subnets, every flow logged.
 *
 * Each AZ has its own NAT gateway, so losing one AZ leaves the other's
 * tasks their way out: a private subnet's default route goes to the NAT
 * gateway of its own AZ ("NAT gateways", Amazon VPC User Guide: a NAT
 * gateway is created in one AZ and is redundant only within it). The
 * alternative, interface endpoints for everything the tasks call (SQS, SNS,
 * EventBridge, CloudWatch Logs, ECR API and registry, X-Ray, Cognito's keys
 * go out to the internet anyway), costs more: README.md, "Deploy to AWS".
 *
 * DynamoDB and S3 gateway endpoints cost nothing and keep the table's
 * traffic and the image layers (ECR serves them from S3) off the NAT.
 */
export class Network extends Construct {
  readonly vpc: ec2.Vpc;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(VPC_CIDR),
      maxAzs: AVAILABILITY_ZONES,
      natGateways: AVAILABILITY_ZONES,
      restrictDefaultSecurityGroup: false,
      gatewayEndpoints: {
        DynamoDb: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB, subnets: [{ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }] },
        S3: { service: ec2.GatewayVpcEndpointAwsService.S3, subnets: [{ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }] },
      },
      flowLogs: {
        all: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(
            new logs.LogGroup(this, 'FlowLogs', {
              retention: logs.RetentionDays.ONE_MONTH,
              removalPolicy: RemovalPolicy.DESTROY,
            }),
          ),
        },
      },
    });
  }
}
