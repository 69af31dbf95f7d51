import { CfnCondition, CfnParameter, Fn, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import { Construct } from 'constructs';
import { acknowledge } from './nag';

/** The groups the service reads from `cognito:groups` (src/auth/mod.rs). */
export const GROUPS = ['admin', 'fulfilment'] as const;

/**
 * The Cognito user pool whose tokens the API accepts: the HTTP API's JWT
 * authorizer checks them first, and the service verifies every token again.
 */
export class Identity extends Construct {
  readonly userPool: cognito.UserPool;
  readonly client: cognito.UserPoolClient;
  /** The `iss` claim of the pool's tokens; its JWKS is `${issuer}/.well-known/jwks.json`. */
  readonly issuer: string;

  /** `ses`: the defaults of the stack's SES parameters (infra/deployment.json). */
  constructor(scope: Construct, id: string, ses: { identityArn?: string; fromAddress?: string } = {}) {
    super(scope, id);
    this.userPool = new cognito.UserPool(this, 'Users', {
      // The username claim becomes the customer's key (PK=CUSTOMER#<username>).
      signInAliases: { username: true, email: true },
      signInCaseSensitive: false,
      selfSignUpEnabled: true,
      autoVerify: { email: true },
      standardAttributes: { email: { required: true, mutable: true } },
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
      },
      mfa: cognito.Mfa.OPTIONAL,
      mfaSecondFactor: { sms: false, otp: true },
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    sendMailThroughSes(this, this.userPool, ses);
    acknowledge(this.userPool, 'COG2', 'MFA is optional (TOTP) so customers can sign up without a second device; admins and fulfilment staff are expected to enrol.');
    acknowledge(this.userPool, 'COG8', 'Threat protection (the Plus feature plan) is a cost decision left to the operator.');
    for (const group of GROUPS) {
      new cognito.CfnUserPoolGroup(this, `Group-${group}`, {
        userPoolId: this.userPool.userPoolId,
        groupName: group,
        description: group === 'admin' ? 'May act on any user' : 'May move any order through its life cycle',
      });
    }
    this.client = this.userPool.addClient('ApiClient', {
      // A public client (browser or CLI): no secret. Password sign-in goes to
      // Cognito over TLS and lets the CLI get a token without an SRP library.
      generateSecret: false,
      authFlows: { userSrp: true, userPassword: true },
      preventUserExistenceErrors: true,
      // Tokens come from InitiateAuth; no hosted UI, no OAuth redirects
      // (the default would allow the code and implicit grants with an
      // example.com callback).
      disableOAuth: true,
    });
    const stack = Stack.of(this);
    this.issuer = `https://cognito-idp.${stack.region}.${stack.urlSuffix}/${this.userPool.userPoolId}`;
  }
}

/**
 * Cognito's own sender has a small daily quota that AWS calls unfit for
 * production ("Email settings for Amazon Cognito user pools": the default
 * email functionality, 50 messages a day per account); a verified SES
 * identity lifts it to the SES account's sending quota. Stack parameters
 * whose defaults come from infra/deployment.json, so the pipeline (which
 * passes neither) keeps them; empty: Cognito's sender.
 */
function sendMailThroughSes(
  scope: Construct,
  userPool: cognito.UserPool,
  defaults: { identityArn?: string; fromAddress?: string },
): void {
  const stack = Stack.of(scope);
  const identityArn = new CfnParameter(stack, 'SesIdentityArn', {
    type: 'String',
    default: defaults.identityArn ?? '',
    allowedPattern: '^$|^arn:aws[a-z-]*:ses:[a-z0-9-]+:[0-9]{12}:identity/.+$',
    description: 'A verified SES identity (in this Region, or one Cognito may use) that sends the user pool\'s '
      + 'mail; empty for Cognito\'s own sender, which has a low daily limit',
  });
  const fromAddress = new CfnParameter(stack, 'SesFromAddress', {
    type: 'String',
    default: defaults.fromAddress ?? '',
    description: 'The From address of the pool\'s mail through SES, e.g. "Shop <no-reply@example.com>"',
  });
  const useSes = new CfnCondition(stack, 'SendsMailThroughSes', {
    expression: Fn.conditionNot(Fn.conditionEquals(identityArn.valueAsString, '')),
  });
  const pool = userPool.node.defaultChild as cognito.CfnUserPool;
  pool.emailConfiguration = Fn.conditionIf(
    useSes.logicalId,
    { EmailSendingAccount: 'DEVELOPER', SourceArn: identityArn.valueAsString, From: fromAddress.valueAsString },
    { EmailSendingAccount: 'COGNITO_DEFAULT' },
  ) as unknown as cognito.CfnUserPool.EmailConfigurationProperty;
  // The empty default reaches SourceArn only in the branch the condition
  // leaves out: the validator resolves both.
  for (const construct of [stack, pool]) {
    Validations.of(construct).acknowledge({
      id: 'CloudFormation-Validate::W1030',
      reason: 'SesIdentityArn is used only when it is not empty (condition SendsMailThroughSes).',
    });
  }
}
