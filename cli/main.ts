// CLI · the `kiln` command. Parses the command line and dispatches; each command
// composes dsl/, compiler/ and runtime/. Later issues add compile, train-*,
// encode, sample and eval.

const HELP = `kiln — a typed tensor DSL and compiler for diffusion-model pipelines

usage: kiln <command> [--help]

commands:
  demo    trace a miniature ViT block, print its Graph IR and run it on the reference interpreter
  help    show this text`;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    console.log(HELP);
    return 0;
  }
  if (command === 'demo') {
    if (rest.includes('--help')) {
      console.log('usage: kiln demo\n\nTraces a miniature ViT block (MAETok encoder block), prints its Graph IR and runs it on the interpreter.');
      return 0;
    }
    const unknown = rest.find((arg) => arg.startsWith('-'));
    if (unknown) {
      console.error(`kiln demo: unknown flag ${unknown} (see kiln demo --help)`);
      return 2;
    }
    await import('../examples/trace-demo.ts');
    return 0;
  }
  console.error(`kiln: unknown command "${command}" (see kiln --help)`);
  return 2;
}

process.exitCode = await main(process.argv.slice(2));

export {};
