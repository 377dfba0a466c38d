import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import { createControlApi } from '../control/api.js';
import { describeIssues } from '../control/input.js';
import { InvalidRequestError, MethodNotAllowedError, NotFoundError } from '../errors.js';
import type { RuleInput } from '../rules/rule.js';
import { requireAdminToken } from './admin-auth.js';
import { objectBody, requireJsonBodies, runControl } from './admin-json.js';

export const ADMIN_RULES_PATH = '/admin/rules';
export const ADMIN_RULE_PATH = '/admin/rules/:id';

/** Methods served on `/admin/rules/:id`; HEAD comes with GET. */
const RULE_METHODS = ['GET', 'HEAD', 'PUT', 'DELETE'] as const;

const addQuerySchema = z.strictObject({
  position: z
    .string()
    .regex(/^(0|[1-9][0-9]{0,3})$/, 'must be a whole number from 0')
    .transform(Number)
    .optional(),
});

/**
 * Registers the rules routes of the control API:
 * - `GET /admin/rules` lists the rules in order, each with its `fired` count;
 * - `POST /admin/rules[?position=N]` adds a rule and returns it with 201;
 * - `DELETE /admin/rules` returns to the configured rules;
 * - `GET`, `PUT` and `DELETE /admin/rules/:id` read, replace and remove one rule.
 * Every route requires the admin token when one is configured.
 */
export async function adminRulesEndpoint(
  app: FastifyInstance,
  { server }: { server: ServerContext },
): Promise<void> {
  const control = createControlApi(server);
  app.addHook('onRequest', requireAdminToken(server.config.adminToken));
  // A rule may match a claim named `__proto__`. The rule schema reports that name as an unknown
  // field except as a map member, which it keeps as an own member, so nothing assigns it to a
  // prototype.
  requireJsonBodies(app, { keepProtoMembers: true });

  app.get(ADMIN_RULES_PATH, async () => ({ rules: control.rules.list() }));

  app.post(ADMIN_RULES_PATH, async (request, reply) => {
    const query = addQuerySchema.safeParse(request.query ?? {});
    if (!query.success) {
      throw new InvalidRequestError(describeIssues(query.error.issues, request.query));
    }
    const body = objectBody(request.body);
    const rule = runControl(() => control.rules.add(body as RuleInput, query.data.position));
    return reply.code(201).send(rule);
  });

  app.delete(ADMIN_RULES_PATH, async () => {
    control.rules.reset();
    return { rules: control.rules.list() };
  });

  app.get<{ Params: { id: string } }>(ADMIN_RULE_PATH, async (request) => {
    const rule = control.rules.get(request.params.id);
    if (!rule) throw ruleNotFound(request.params.id);
    return rule;
  });

  app.put<{ Params: { id: string } }>(ADMIN_RULE_PATH, async (request) => {
    const body = objectBody(request.body);
    const rule = runControl(() => control.rules.replace(request.params.id, body as RuleInput));
    if (!rule) throw ruleNotFound(request.params.id);
    return rule;
  });

  app.delete<{ Params: { id: string } }>(ADMIN_RULE_PATH, async (request) => {
    const { id } = request.params;
    if (!control.rules.delete(id)) throw ruleNotFound(id);
    return { deleted: id };
  });

  // The server's not-found handler sends 405 for fixed paths only, so this parameterized path
  // rejects other methods itself.
  const otherMethods = app.supportedMethods.filter(
    (method) => !(RULE_METHODS as readonly string[]).includes(method),
  );
  app.route({
    method: otherMethods,
    url: ADMIN_RULE_PATH,
    handler: async () => {
      throw new MethodNotAllowedError(RULE_METHODS);
    },
  });
}

function ruleNotFound(id: string): NotFoundError {
  // Only ids that match the rule id pattern are echoed, so the description stays short and safe.
  const shown = /^[A-Za-z0-9._~-]{1,64}$/.test(id) ? ` ${id}` : '';
  return new NotFoundError(`no rule with id${shown}`);
}
