// Test support · a fake libnvrtc.so for exercising kiln's NVRTC path (runtime/cuda/nvrtc.ts
// through the addon) on machines without NVRTC (test/runtime/nvrtc.test.ts builds it with
// cc and names it in KILN_NVRTC). "Compiling" writes a PTX module with one empty
// `.entry NAME(` per `extern "C" __global__ void __launch_bounds__(N) NAME(` of the source.
// A line holding `#error` fails the compile with a log naming that line, as NVRTC does
// ("kiln.cu(LINE): error: ..."); a line holding `kiln_fake_warning` compiles with a
// warning in the log. Every compile appends its options, one per line, to the file
// named by FAKE_NVRTC_OPTIONS when that is set.

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { char* source; char* name; char* ptx; char* log; } Program;

int nvrtcVersion(int* major, int* minor) { *major = 13; *minor = 0; return 0; }

const char* nvrtcGetErrorString(int result) { return result == 6 ? "NVRTC_ERROR_COMPILATION" : result == 0 ? "NVRTC_SUCCESS" : "NVRTC_ERROR_INVALID_INPUT"; }

int nvrtcCreateProgram(Program** program, const char* source, const char* name, int headers, const char* const* contents, const char* const* names) {
  (void)headers; (void)contents; (void)names;
  if (!source || !program) return 3;
  Program* p = calloc(1, sizeof *p);
  p->source = strdup(source);
  p->name = strdup(name ? name : "default_program");
  *program = p;
  return 0;
}

static void append(char** text, const char* more) {
  size_t have = *text ? strlen(*text) : 0;
  *text = realloc(*text, have + strlen(more) + 1);
  strcpy(*text + have, more);
}

int nvrtcCompileProgram(Program* p, int count, const char* const* options) {
  const char* record = getenv("FAKE_NVRTC_OPTIONS");
  if (record) {
    FILE* f = fopen(record, "a");
    if (f) { for (int i = 0; i < count; i++) fprintf(f, "%s\n", options[i]); fclose(f); }
  }
  char line[512];
  int number = 0;
  const char* at = p->source;
  append(&p->ptx, "//\n// fake NVRTC\n//\n\n.version 8.0\n.target sm_90\n.address_size 64\n\n");
  while (*at) {
    const char* end = strchr(at, '\n');
    size_t length = end ? (size_t)(end - at) : strlen(at);
    number++;
    if (strstr(at, "#error") && strstr(at, "#error") < at + length) {
      snprintf(line, sizeof line, "%s(%d): error: #error directive\n\n1 error detected in the compilation of \"%s\".\n", p->name, number, p->name);
      append(&p->log, line);
      return 6;
    }
    if (strstr(at, "kiln_fake_warning") && strstr(at, "kiln_fake_warning") < at + length) {
      snprintf(line, sizeof line, "%s(%d): warning #177-D: variable declared but never referenced\n", p->name, number);
      append(&p->log, line);
    }
    const char* entry = strstr(at, "extern \"C\" __global__ void __launch_bounds__(");
    if (entry && entry < at + length) {
      const char* name = strchr(entry, ')') + 2;
      const char* paren = strchr(name, '(');
      snprintf(line, sizeof line, ".visible .entry %.*s(\n)\n{\n\tret;\n\n}\n\n", (int)(paren - name), name);
      append(&p->ptx, line);
    }
    at += length + (end ? 1 : 0);
  }
  return 0;
}

int nvrtcGetPTXSize(Program* p, size_t* size) { *size = p->ptx ? strlen(p->ptx) + 1 : 1; return 0; }
int nvrtcGetPTX(Program* p, char* out) { strcpy(out, p->ptx ? p->ptx : ""); return 0; }
int nvrtcGetProgramLogSize(Program* p, size_t* size) { *size = p->log ? strlen(p->log) + 1 : 1; return 0; }
int nvrtcGetProgramLog(Program* p, char* out) { strcpy(out, p->log ? p->log : ""); return 0; }

int nvrtcDestroyProgram(Program** program) {
  Program* p = *program;
  if (p) { free(p->source); free(p->name); free(p->ptx); free(p->log); free(p); }
  *program = NULL;
  return 0;
}
