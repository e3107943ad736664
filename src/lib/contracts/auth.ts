import { z } from 'zod';

/**
 * `POST /icp4d-api/v1/authorize` body: a username with either an API key or a password.
 * IBM's SDK core sends all three keys with null for the unused one, so null is accepted.
 */
export const CpdAuthorizeRequest = z
  .object({
    username: z.string().min(1, 'username must be a non-empty string'),
    api_key: z.string().min(1).nullish(),
    password: z.string().min(1).nullish(),
  })
  .refine((b) => Boolean(b.api_key) !== Boolean(b.password), {
    message: 'exactly one of api_key or password is required',
    path: ['api_key'],
  });
export type CpdAuthorizeRequest = z.infer<typeof CpdAuthorizeRequest>;

/** `POST /icp4d-api/v1/authorize` 200 body: `token` is a JWT carrying `username`, `sub`, `iat`, `exp`. */
export const CpdAuthorizeResponse = z.looseObject({
  token: z.string().min(1),
  _messageCode_: z.string().optional(),
  message: z.string().optional(),
});
export type CpdAuthorizeResponse = z.infer<typeof CpdAuthorizeResponse>;

/** IBM Cloud IAM `POST /identity/token` (grant_type=urn:ibm:params:oauth:grant-type:apikey) 200 body. */
export const IamTokenResponse = z.looseObject({
  access_token: z.string().min(1),
  refresh_token: z.string().optional(),
  token_type: z.string(),
  expires_in: z.number(),
  /** Expiry as epoch seconds. */
  expiration: z.number(),
});
export type IamTokenResponse = z.infer<typeof IamTokenResponse>;

/** The IAM grant type for API-key exchange. */
export const IAM_APIKEY_GRANT = 'urn:ibm:params:oauth:grant-type:apikey';

/** Claims the project reads from a CPD JWT. */
export const CpdTokenClaims = z.looseObject({
  username: z.string().optional(),
  sub: z.string().optional(),
  iat: z.number().optional(),
  exp: z.number(),
});
export type CpdTokenClaims = z.infer<typeof CpdTokenClaims>;
