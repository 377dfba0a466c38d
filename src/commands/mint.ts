import { Command } from 'commander';

/** Builds the `mint` subcommand, which signs subject and actor tokens for tests. */
export function mintCommand(): Command {
  return new Command('mint').description('sign a subject or actor token for tests').exitOverride();
}
