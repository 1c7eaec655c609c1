// Emit · Program → the text of a typed TypeScript module, for ahead-of-time use
// (Node only: it runs ts-morph). In: a Program (compile(graph).program, or
// withPtx's for CUDA) and a name. Out: a module exporting
//   program        the same plain data, `as const satisfies Program`;
//   InputName, OutputName, ParamName   literal unions of its tables' keys;
//   Inputs, Params interfaces of the values Executor.run / setParam take, each
//                  member documented with its dtype, shape and element count.
// A bundler or tsx then loads a model without tracing or compiling anything, and
// tsc checks a caller's input, output and param names against the program.
//
// Everything in the Program is kept except Kernel IR bodies. By default each
// kernel's `ir` is { name, buffers, workgroupSize, workgroups, body: [] }: the
// Executor and the devices read only `ir.buffers` at load (binding count, each
// binding's dtype and size checked against its buffer, access for WebGPU's bind
// group layout) and run the printed source (or PTX), never the body, which is the
// bulk of a Program. `includeIr` keeps the body, for KILN_DEBUG dumps or re-printing.
//
// DType, Op and Alu are string enums, and a plain 'f32' does not satisfy DType, so
// the module imports them, and the Program type, from kiln's sources under
// `kilnImport` ('kiln' for a project depending on the kiln package; inside this
// repository a relative path, see relativeKilnImport).

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IndentationText, Project, QuoteKind, VariableDeclarationKind, ts, type FormatCodeSettings, type ImportSpecifierStructure, type OptionalKind } from 'ts-morph';
import { DType } from './ir/dtype.ts';
import { Op } from './ir/op.ts';
import { Alu, type Kernel } from './kernel/ir.ts';
import type { Program, ProgramBuffer, ProgramKernel } from './program.ts';

export interface EmitOptions {
  /** Names the program in the module's header and docs, e.g. 'fashion-mnist-train'. */
  readonly name: string;
  /** Keep every kernel's Kernel IR body (default false: `ir.body` is emitted as [], see the file header). */
  readonly includeIr?: boolean;
  /**
   * Module specifier of kiln's root that the emitted imports start with (default 'kiln', giving
   * 'kiln/compiler/program.ts' etc.). Inside this repository pass relativeKilnImport(directory of the module).
   */
  readonly kilnImport?: string;
}

/** Where emit.ts's package root is: the target of relative imports. */
const KILN_ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * The `kilnImport` that reaches this checkout of kiln from a module written in `directory`.
 * @example writeProgramModule('out/tiny.ts', program, { name: 'tiny', kilnImport: relativeKilnImport('out') })
 */
export function relativeKilnImport(directory: string): string {
  const path = relative(directory, KILN_ROOT).split(sep).join('/');
  if (path === '') return '.';
  return path.startsWith('.') ? path : `./${path}`;
}

/**
 * The text of a typed .ts module holding `program` (see the file header for what it exports and keeps).
 * @example const text = emitProgramModule(compile(graph).program, { name: 'tiny' });
 * writeFileSync('tiny.ts', text);
 */
export function emitProgramModule(program: Program, options: EmitOptions): string {
  const root = options.kilnImport ?? 'kiln';
  const kept = options.includeIr ? program : withoutIrBodies(program);
  const printer = new LiteralPrinter();
  const literal = printer.program(kept).replaceAll(TEMPLATE_NEWLINE, '\n');

  const project = new Project({
    useInMemoryFileSystem: true,
    manipulationSettings: { indentationText: IndentationText.TwoSpaces, quoteKind: QuoteKind.Single },
  });
  const file = project.createSourceFile('program.ts');
  const imports: [string, OptionalKind<ImportSpecifierStructure>[]][] = [
    ['compiler/program.ts', [{ name: 'Program', isTypeOnly: true }]],
    ['compiler/ir/dtype.ts', printer.used.has('DType') ? [{ name: 'DType' }] : []],
    ['compiler/ir/op.ts', printer.used.has('Op') ? [{ name: 'Op' }] : []],
    ['compiler/kernel/ir.ts', [
      ...(printer.used.has('Alu') ? [{ name: 'Alu' }] : []),
      ...(printer.used.has('Instr') ? [{ name: 'Instr', isTypeOnly: true }, { name: 'ValueId', isTypeOnly: true }] : []),
    ]],
  ];
  for (const [path, namedImports] of imports) {
    if (namedImports.length === 0) continue;
    const typeOnly = namedImports.every((n) => n.isTypeOnly);
    file.addImportDeclaration({
      moduleSpecifier: `${root}/${path}`,
      isTypeOnly: typeOnly,
      namedImports: typeOnly ? namedImports.map((n) => ({ name: n.name })) : namedImports,
    });
  }

  const table = (kind: string, names: Record<string, number>) => ({ kind, names: Object.keys(names) });
  for (const { kind, names } of [table('Input', kept.inputs), table('Output', kept.outputs), table('Param', kept.params)]) {
    file.addTypeAlias({
      isExported: true,
      name: `${kind}Name`,
      type: unionOf(names),
      docs: [`The program's ${kind.toLowerCase()} names.`],
    });
  }
  const byId = new Map(kept.buffers.map((b) => [b.id, b]));
  const members = (names: Record<string, number>, type: string) =>
    Object.entries(names).map(([name, id]) => ({ name: propertyName(name), type, docs: [describeBuffer(byId.get(id))] }));
  file.addInterface({
    isExported: true,
    name: 'Inputs',
    docs: ['Values for one run (Executor.run): row-major element values, or one number for every element.'],
    properties: members(kept.inputs, 'ArrayLike<number> | number'),
  });
  file.addInterface({
    isExported: true,
    name: 'Params',
    docs: ['Initial values of the persistent params (Executor.setParam), row-major.'],
    properties: members(kept.params, 'ArrayLike<number>'),
  });
  if (printer.used.has('Instr')) {
    // Value ids are branded numbers (ValueId), which no literal carries, and number is not even
    // comparable to the brand; so the body is checked as Instr with plain-number ids, then re-branded.
    file.addTypeAlias({
      name: 'Printed',
      typeParameters: ['T'],
      docs: ['Kernel IR as printed here: ValueId fields as plain numbers.'],
      type: 'T extends unknown ? { readonly [K in keyof T]: T[K] extends ValueId ? number : T[K] extends readonly ValueId[] ? readonly number[] : T[K] } : never',
    });
    file.addVariableStatement({
      declarationKind: VariableDeclarationKind.Const,
      declarations: [{ name: KERNEL_BODY, initializer: '(body: readonly Printed<Instr>[]): readonly Instr[] => body as unknown as readonly Instr[]' }],
    });
  }
  file.addVariableStatement({
    isExported: true,
    declarationKind: VariableDeclarationKind.Const,
    docs: [`Program "${options.name.replace(/\s+/g, ' ').replaceAll('*/', '*\\/')}" for ${kept.target}: ${count(kept.buffers.length, 'buffer')}, ${count(kept.kernels.length, 'kernel')}, ${count(kept.steps.length, 'step')}. `
      + `Load with Executor.create(device, program).${options.includeIr ? '' : ' Kernel IR bodies are dropped (ir.body is []).'}`],
    declarations: [{ name: 'program', initializer: `${PROGRAM_PLACEHOLDER} as const satisfies Program` }],
  });
  file.formatText(MODULE_FORMAT);
  // ts-morph lays out the declarations; the program literal (megabytes of kernel source for a real
  // model) goes in as text afterwards, because parsing and formatting it would take ts-morph
  // seconds, and the printer already lays it out as the formatter does (the test pins that the
  // module is a fixed point of formatText). The placeholder is the last identifier in the file.
  const text = file.getFullText();
  const at = text.lastIndexOf(PROGRAM_PLACEHOLDER);
  const header = `// Emitted by kiln compiler/emit.ts from program ${quote(options.name)}; regenerate rather than edit.\n`;
  return header + text.slice(0, at) + literal + text.slice(at + PROGRAM_PLACEHOLDER.length);
}

const PROGRAM_PLACEHOLDER = 'PROGRAM_LITERAL';

/** ts-morph formatter settings of emitted modules (kiln's own style: two spaces, semicolons). */
export const MODULE_FORMAT: FormatCodeSettings = {
  indentSize: 2,
  tabSize: 2,
  convertTabsToSpaces: true,
  ensureNewLineAtEndOfFile: true,
  semicolons: ts.SemicolonPreference.Insert,
};

/** Writes emitProgramModule's text to `path`, creating its directory. */
export function writeProgramModule(path: string, program: Program, options: EmitOptions): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, emitProgramModule(program, options));
}

/** What the default emit keeps: the program with every kernel's Kernel IR body emptied. */
function withoutIrBodies(program: Program): Program {
  return { ...program, kernels: program.kernels.map((k): ProgramKernel => ({ ...k, ir: { ...k.ir, body: [] } })) };
}

function describeBuffer(buffer: ProgramBuffer | undefined): string {
  if (!buffer) return 'Buffer missing from the program.';
  return `${buffer.dtype}[${buffer.shape.join(', ')}]: ${count(buffer.size, 'element')}.`;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function unionOf(names: readonly string[]): string {
  if (names.length === 0) return 'never';
  const members = names.map(quote);
  const inline = members.join(' | ');
  return inline.length <= 80 ? inline : `\n${members.map((m) => `| ${m}`).join('\n')}`;
}

/** The emitted module's function that types a printed Kernel IR body (includeIr only). */
const KERNEL_BODY = 'kernelBody';

/** A string enum as emit sees it: its exported name and its members (member name → value). */
interface EnumRef {
  readonly name: 'DType' | 'Op' | 'Alu';
  readonly members: Readonly<Record<string, string>>;
}

const DTYPE_ENUM: EnumRef = { name: 'DType', members: DType };
const OP_ENUM: EnumRef = { name: 'Op', members: Op };
const ALU_ENUM: EnumRef = { name: 'Alu', members: Alu };

/** Which string-valued keys of one object are enum members (applies to that object's own keys only). */
type EnumKeys = Readonly<Record<string, EnumRef>>;

const BUFFER_KEYS: EnumKeys = { dtype: DTYPE_ENUM, storage: DTYPE_ENUM };
/** Kernel IR instructions: `from` is a DType on casts (instructions have no other string `from`), `operand` on mma. */
const INSTR_KEYS: EnumKeys = { dtype: DTYPE_ENUM, from: DTYPE_ENUM, op: ALU_ENUM, operand: DTYPE_ENUM };
const VIEW_KEYS: EnumKeys = { op: OP_ENUM };
/** A kernel's GemmCall: the operand and output storage dtypes. */
const GEMM_KEYS: EnumKeys = { operands: DTYPE_ENUM, out: DTYPE_ENUM };

/** Already printed TypeScript, placed as is. */
class Code {
  constructor(readonly text: string) {}
}

/**
 * Prints Program data as a TypeScript literal, one buffer, step or instruction per line and
 * kernel sources as template literals; the formatter then fixes indentation (it leaves template
 * literal contents alone, which is why this printer never indents). Records which enums and
 * types the text refers to, for the imports.
 */
class LiteralPrinter {
  readonly used = new Set<EnumRef['name'] | 'Instr'>();

  program(program: Program): string {
    return this.object({
      target: program.target,
      buffers: new Code(this.array(program.buffers.map((b) => this.object(b, BUFFER_KEYS)))),
      kernels: new Code(this.array(program.kernels.map((k) => this.object({ ...k, ir: new Code(this.kernelIr(k.ir)), ...(k.gemm ? { gemm: new Code(this.object(k.gemm, GEMM_KEYS)) } : {}) })))),
      steps: program.steps,
      inputs: program.inputs,
      outputs: program.outputs,
      params: program.params,
      outputViews: program.outputViews === undefined ? undefined : new Code(this.object(Object.fromEntries(
        Object.entries(program.outputViews).map(([name, views]) => [name, new Code(this.array(views.map((v) => this.object(v, VIEW_KEYS))))]),
      ))),
    });
  }

  private kernelIr(ir: Kernel): string {
    let body = '[]';
    if (ir.body.length > 0) {
      this.used.add('Instr');
      body = `${KERNEL_BODY}(${this.array(ir.body.map((instr) => this.object(instr, INSTR_KEYS)))})`;
    }
    return this.object({
      name: ir.name,
      buffers: new Code(this.array(ir.buffers.map((b) => this.object(b, BUFFER_KEYS)))),
      workgroupSize: ir.workgroupSize,
      workgroups: ir.workgroups,
      body: new Code(body),
    });
  }

  private value(value: unknown): string {
    if (value instanceof Code) return value.text;
    if (typeof value === 'number') return printNumber(value);
    if (typeof value === 'string') return stringLiteral(value);
    if (typeof value === 'boolean') return String(value);
    if (value === null) return 'null';
    if (Array.isArray(value)) return this.array(value.map((v: unknown) => this.value(v)));
    if (typeof value === 'object') return this.object(value);
    throw new Error(`emit: cannot print a ${typeof value} as Program data`);
  }

  /** Undefined-valued keys are left out (an absent optional field). */
  private object(value: object, enums: EnumKeys = {}): string {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).map(([key, v]) => {
      const ref = enums[key];
      return `${propertyName(key)}: ${ref && typeof v === 'string' ? this.member(ref, v) : this.value(v)}`;
    });
    return layout('{ ', entries, ' }');
  }

  private array(items: readonly string[]): string {
    return layout('[', items, ']');
  }

  private member(ref: EnumRef, value: string): string {
    const entry = Object.entries(ref.members).find(([, v]) => v === value);
    if (!entry) throw new Error(`emit: "${value}" is not a member of ${ref.name}`);
    this.used.add(ref.name);
    return `${ref.name}.${entry[0]}`;
  }
}

/**
 * Newlines inside template literals, while the literal is being laid out: layout indents at every
 * real newline, and must not indent inside kernel sources. Replaced by '\n' once printing is done;
 * strings that contain the character itself get it escaped (see stringLiteral).
 */
const TEMPLATE_NEWLINE = '\uE000';

/** One line when short and free of line breaks, else one item per line, indented two spaces. */
function layout(open: string, items: readonly string[], close: string): string {
  if (items.length === 0) return `${open.trim()}${close.trim()}`;
  const inline = `${open}${items.join(', ')}${close}`;
  if (inline.length <= 100 && !inline.includes('\n') && !inline.includes(TEMPLATE_NEWLINE)) return inline;
  return `${open.trim()}\n${items.map((item) => `  ${item.replaceAll('\n', '\n  ')},\n`).join('')}${close.trim()}`;
}

function printNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  return Object.is(n, -0) ? '-0' : String(n);
}

/** A single-quoted string literal, every control character escaped. */
function quote(s: string): string {
  return `'${s.replace(/[\\'\u0000-\u001f\u2028\u2029\uE000]/g, escapeChar)}'`;
}

/**
 * A string value in the program literal: a template literal when it spans lines (kernel sources),
 * so the module reads like the source, with its newlines as TEMPLATE_NEWLINE until printing is done.
 */
function stringLiteral(s: string): string {
  if (!s.includes('\n')) return quote(s);
  // A raw CR inside a template literal would read back as LF, so CR is escaped like the other controls.
  const body = s.replace(/\\|`|\$\{|[\u0000-\u0008\u000b-\u001f\u2028\u2029\uE000]/g, escapeChar);
  return `\`${body.replaceAll('\n', TEMPLATE_NEWLINE)}\``;
}

function escapeChar(c: string): string {
  if (c === '\\' || c === '`' || c === "'" || c === '${') return `\\${c}`;
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

function propertyName(name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? name : quote(name);
}
