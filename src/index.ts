export type { BasicCredentialEncoding, ClientAuthMethod } from './client-auth/authenticate.js';
export { type Clock, frozenClock, systemClock } from './clock.js';
export { ConfigError } from './config/errors.js';
export { readConfigFile, resolveConfig } from './config/load.js';
export type { ClientConfig, Config, ConfigInput } from './config/schema.js';
export type { ClockControl, ControlApi, ListedRule, RulesControl } from './control/api.js';
export { type ExchangeCounts, MAX_COUNTER_KEYS } from './control/counters.js';
export { ControlInputError } from './control/input.js';
export * from './errors.js';
export type {
  DecodedJwt,
  LoggedClient,
  LoggedToken,
  RequestLogEntry,
  RequestOutcome,
} from './request-log/entry.js';
export type { RequestLog, RequestLogPage, RequestLogQuery } from './request-log/store.js';
export type { Rule, RuleAction, RuleInput, RuleMatch } from './rules/rule.js';
export {
  createServer,
  type Endpoint,
  type MockTokenExchangeServer,
  type ServerOptions,
} from './server.js';
export { fingerprint } from './tokens/fingerprint.js';
export { type MintedToken, MintOptionsError, type MintTokenOptions } from './tokens/mint.js';
export {
  type ClientCredentialsTokenInput,
  canonicalClientCredentialsInput,
  canonicalExchangeInput,
  issueClientCredentialsToken,
  issueOpaqueToken,
} from './tokens/opaque.js';
export { TokenType } from './tokens/token-types.js';
