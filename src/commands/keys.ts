import { Command } from 'commander';

/** Builds the `keys` subcommand, which writes private JWKS files. */
export function keysCommand(): Command {
  return new Command('keys').description('manage signing keys').exitOverride();
}
