// CLI · flag parsing. In: argv after the command name and the command's declared
// flags. Out: typed values, or a UsageError that names the bad flag or value and
// points at --help. No flag is accepted that is not declared.

export type FlagType = 'string' | 'number' | 'boolean';

export interface FlagSpec {
  readonly type: FlagType;
  readonly help: string;
  readonly default?: string | number | boolean;
  readonly choices?: readonly string[];
  /** Shown in --help for string/number flags (e.g. PATH, N). */
  readonly value?: string;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;
export type FlagValues = Record<string, string | number | boolean | undefined>;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A file the user named is not what the command needs (wrong kind of model, mismatched shapes): one line, exit status 1. */
export class InputError extends Error {
  override readonly name = 'InputError';
}

export function parseFlags(command: string, argv: readonly string[], specs: FlagSpecs): FlagValues {
  const values: FlagValues = {};
  for (const [name, spec] of Object.entries(specs)) values[name] = spec.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new UsageError(`kiln ${command}: unexpected argument "${arg}" (flags start with --; see kiln ${command} --help)`);
    const [rawName, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    const spec = specs[rawName];
    if (!spec) {
      const near = Object.keys(specs).find((k) => k.startsWith(rawName.slice(0, 3)));
      throw new UsageError(`kiln ${command}: unknown flag --${rawName}${near ? ` (did you mean --${near}?)` : ''}; see kiln ${command} --help`);
    }
    if (spec.type === 'boolean') {
      if (inline !== undefined && inline !== 'true' && inline !== 'false') throw new UsageError(`kiln ${command}: --${rawName} is a switch; write --${rawName} or --${rawName}=false`);
      values[rawName] = inline !== 'false';
      continue;
    }
    const text = inline ?? argv[++i];
    if (text === undefined || (inline === undefined && text.startsWith('--'))) throw new UsageError(`kiln ${command}: --${rawName} needs a value (${spec.value ?? spec.type})`);
    if (spec.choices && !spec.choices.includes(text)) throw new UsageError(`kiln ${command}: --${rawName} must be one of ${spec.choices.join(', ')}; got "${text}"`);
    if (spec.type === 'number') {
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n)) throw new UsageError(`kiln ${command}: --${rawName} needs a number, got "${text}"`);
      values[rawName] = n;
    } else values[rawName] = text;
  }
  return values;
}

export function flagHelp(specs: FlagSpecs): string {
  const rows = Object.entries(specs).map(([name, spec]) => {
    const left = `  --${name}${spec.type === 'boolean' ? '' : ` ${spec.value ?? (spec.choices ? spec.choices.join('|') : spec.type.toUpperCase())}`}`;
    const def = spec.default !== undefined && spec.default !== false ? ` (default ${spec.default})` : '';
    return [left, `${spec.help}${def}`] as const;
  });
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return rows.map(([l, r]) => `${l.padEnd(width)}${r}`).join('\n');
}

/** A positive integer flag value, or a UsageError naming the flag. */
export function positiveInt(command: string, values: FlagValues, name: string): number {
  const v = values[name];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new UsageError(`kiln ${command}: --${name} must be a positive integer, got ${String(v)}`);
  return v;
}

export function required(command: string, values: FlagValues, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`kiln ${command}: --${name} is required (see kiln ${command} --help)`);
  return v;
}
