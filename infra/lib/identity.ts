import { RemovalPolicy, Stack } from 'aws-cdk-lib';
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

  constructor(scope: Construct, id: string) {
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
