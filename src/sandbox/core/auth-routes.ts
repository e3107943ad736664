import { z } from 'zod';
import { CpdAuthorizeRequest, IAM_APIKEY_GRANT, type CpdAuthorizeResponse, type IamTokenResponse } from '../../lib/contracts/auth';
import { ApiError, unauthorized } from '../errors';
import { reply } from '../http/router';
import { defineModule } from '../module';

const IamTokenForm = z.looseObject({
  grant_type: z.string().min(1),
  apikey: z.string().min(1).optional(),
  refresh_token: z.string().min(1).optional(),
});

/**
 * Token endpoints (ibm-api-contracts.md §1.2–1.3): CPD `POST /icp4d-api/v1/authorize` (also at
 * `/v1/authorize`, as the OpenScale SDK calls it) and IAM `POST /identity/token`.
 */
export const authModule = defineModule({
  name: 'auth',
  setup(host) {
    const authorize = (body: CpdAuthorizeRequest) => {
      const user = host.auth.checkCredentials(body.username, { apiKey: body.api_key, password: body.password });
      if (!user) throw unauthorized(`Invalid credentials for user '${body.username}'`);
      const { token } = host.auth.mint(user, { iss: 'cpd' });
      const answer: CpdAuthorizeResponse = { _messageCode_: '200', message: 'Success', token };
      return reply.json(200, answer);
    };
    host.post('/icp4d-api/v1/authorize', { auth: 'none', body: CpdAuthorizeRequest }, (ctx) => authorize(ctx.body));
    host.post('/v1/authorize', { auth: 'none', body: CpdAuthorizeRequest }, (ctx) => authorize(ctx.body));

    host.post('/identity/token', { auth: 'none', body: IamTokenForm, bodyFormat: 'form' }, (ctx) => {
      const form = ctx.body;
      let user;
      if (form.grant_type === IAM_APIKEY_GRANT) {
        if (!form.apikey) throw new ApiError(400, 'BXNIM0415E', 'body.apikey: required for the apikey grant');
        user = host.auth.userForIamKey(form.apikey);
        if (!user) throw new ApiError(400, 'BXNIM0415E', 'Provided API key could not be found.');
      } else if (form.grant_type === 'refresh_token') {
        if (!form.refresh_token) throw new ApiError(400, 'BXNIM0109E', 'body.refresh_token: required for the refresh_token grant');
        const principal = host.auth.verifyToken(form.refresh_token);
        user = host.auth.user(principal.username)!;
      } else {
        throw new ApiError(400, 'BXNIM0109E', `body.grant_type: unsupported grant type '${form.grant_type}'`);
      }
      const { token, claims } = host.auth.mint(user, { iss: 'iam' });
      const refresh = host.auth.mint(user, { iss: 'iam-refresh', ttlSeconds: 30 * 24 * 3600 });
      const answer: IamTokenResponse = {
        access_token: token,
        refresh_token: refresh.token,
        token_type: 'Bearer',
        expires_in: claims.exp - claims.iat,
        expiration: claims.exp,
        scope: 'ibm openid',
        ims_user_id: Number(claims.uid),
      };
      return reply.json(200, answer);
    });
  },
});
