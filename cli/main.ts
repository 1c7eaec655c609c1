// CLI · the `kiln` command. Parses the command line and dispatches to
// cli/commands.ts; a bad command, flag or value is a one-line error naming it
// (exit status 2), a bad or mismatched file or a diverged run one line too (exit
// status 1), `--help` works on every command.

import { COMMANDS, commandHelp, parseFlags } from './commands.ts';
import { CheckpointError } from '../runtime/io/checkpoint.ts';
import { SafetensorsFormatError } from '../runtime/io/safetensors.ts';
import { IdxFormatError } from '../runtime/data/idx.ts';
import { ImageDataError } from '../runtime/data/images.ts';
import { LatentFileError } from '../runtime/data/latents.ts';
import { TrainingDivergedError } from '../runtime/train/loop.ts';
import { InputError, UsageError } from './flags.ts';

const BAD_INPUT = [InputError, SafetensorsFormatError, CheckpointError, IdxFormatError, ImageDataError, LatentFileError, TrainingDivergedError];

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length)) + 2;
  return `kiln — a typed tensor DSL and compiler for diffusion-model pipelines (MAETok, SiT, LightningDiT)

usage: kiln <command> [flags]    (kiln <command> --help for its flags)

commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`).join('\n')}
  ${'trace'.padEnd(width)}trace a miniature ViT block, print its Graph IR and run it on the interpreter
  ${'help'.padEnd(width)}show this text`;
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    console.log(help());
    return 0;
  }
  if (name === 'trace') {
    await import('../examples/trace-demo.ts');
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`kiln: unknown command "${name}" (commands: ${Object.keys(COMMANDS).join(', ')}; see kiln --help)`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(commandHelp(name, command));
    return 0;
  }
  try {
    await command.run(parseFlags(name, rest, command.flags));
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(error.message);
      return 2;
    }
    // Bad files and runs that stop on their own terms are the user's to fix, not kiln's bugs: one line, no stack.
    if (BAD_INPUT.some((kind) => error instanceof kind)) {
      console.error(`kiln ${name}: ${(error as Error).message}`);
      return 1;
    }
    throw error;
  }
}

process.exitCode = await main(process.argv.slice(2));

export {};
