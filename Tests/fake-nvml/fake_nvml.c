/*
 * A stand-in for NVIDIA's management library (libnvidia-ml.so.1) for tests on machines
 * without a GPU: the same exported functions, the same C ABI (nvml.h's structure layouts and
 * return codes), devices and processes read from a script. Written for clustermon's tests;
 * built by them with `cc -shared -fPIC` (see Tests/TestSupport/FakeNVML.swift).
 *
 * The script is the file beside the library with ".script" appended to its name (or the file
 * $FAKE_NVML_SCRIPT names), re-read by nvmlInit_v2 and every nvmlDeviceGetCount_v2, so a test
 * can change it between the agent's cycles. Each copy of the library at its own path is its
 * own instance (dlopen loads each path once), so tests in one process do not share devices.
 * One statement per line:
 *   init <code>                                  what nvmlInit_v2 returns (default 0)
 *   device <uuid> <total> <used> <gpu%> <mem%> <milliwatts> <celsius> <name...>
 *   process <device> <pid> <used-bytes>          a compute process on device <device> (0-based)
 *   sample <device> <pid> <timestamp-us> <sm%>   a process utilization sample; `now` for the
 *                                                timestamp is the time of each read (a driver
 *                                                that keeps sampling)
 *   fail <function> <device> <code>              that function returns <code> for that device
 * Compile-time variants: -DOMIT_PROCESS_UTILIZATION (an optional function missing),
 * -DOMIT_MEMORY_INFO (a required function missing).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

typedef int nvmlReturn_t;
typedef struct fake_device *nvmlDevice_t;

typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_t;
typedef struct {
    unsigned int pid;
    unsigned long long timeStamp;
    unsigned int smUtil, memUtil, encUtil, decUtil;
} nvmlProcessUtilizationSample_t;

#define MAX_DEVICES 16
#define MAX_ROWS 256
struct fake_device {
    char uuid[96], name[96];
    unsigned long long total, used;
    unsigned int gpu, memory, power, temperature;
};
struct process_row { int device; unsigned int pid; unsigned long long used; };
struct sample_row { int device; unsigned int pid; unsigned long long timestamp; unsigned int sm; };
struct fail_row { char function[64]; int device; int code; };

static int init_code, initialized;
static struct fake_device devices[MAX_DEVICES];
static int device_count;
static struct process_row processes[MAX_ROWS];
static int process_count;
static struct sample_row samples[MAX_ROWS];
static int sample_count;
static struct fail_row failures[MAX_ROWS];
static int failure_count;

static void load_script(void) {
    device_count = process_count = sample_count = failure_count = 0;
    init_code = 0;
    char beside[4096];
    const char *path = getenv("FAKE_NVML_SCRIPT");
    Dl_info info;
    if (!path && dladdr((void *)load_script, &info) && info.dli_fname) {
        snprintf(beside, sizeof beside, "%s.script", info.dli_fname);
        path = beside;
    }
    FILE *file = path ? fopen(path, "r") : NULL;
    if (!file) return;
    char line[512];
    while (fgets(line, sizeof line, file)) {
        line[strcspn(line, "\n")] = 0;
        if (strncmp(line, "init ", 5) == 0) {
            init_code = atoi(line + 5);
        } else if (strncmp(line, "device ", 7) == 0 && device_count < MAX_DEVICES) {
            struct fake_device *d = &devices[device_count];
            int consumed = 0;
            memset(d, 0, sizeof *d);
            if (sscanf(line + 7, "%95s %llu %llu %u %u %u %u %n", d->uuid, &d->total, &d->used, &d->gpu, &d->memory,
                       &d->power, &d->temperature, &consumed) >= 7) {
                snprintf(d->name, sizeof d->name, "%s", line + 7 + consumed);
                device_count++;
            }
        } else if (strncmp(line, "process ", 8) == 0 && process_count < MAX_ROWS) {
            struct process_row *p = &processes[process_count];
            if (sscanf(line + 8, "%d %u %llu", &p->device, &p->pid, &p->used) == 3) process_count++;
        } else if (strncmp(line, "sample ", 7) == 0 && sample_count < MAX_ROWS) {
            struct sample_row *s = &samples[sample_count];
            char when[32];
            if (sscanf(line + 7, "%d %u %31s %u", &s->device, &s->pid, when, &s->sm) == 4) {
                if (strcmp(when, "now") == 0) {
                    struct timeval tv;
                    gettimeofday(&tv, NULL);
                    s->timestamp = (unsigned long long)tv.tv_sec * 1000000ULL + (unsigned long long)tv.tv_usec;
                } else {
                    s->timestamp = strtoull(when, NULL, 10);
                }
                sample_count++;
            }
        } else if (strncmp(line, "fail ", 5) == 0 && failure_count < MAX_ROWS) {
            struct fail_row *f = &failures[failure_count];
            if (sscanf(line + 5, "%63s %d %d", f->function, &f->device, &f->code) == 3) failure_count++;
        }
    }
    fclose(file);
}

static int index_of(nvmlDevice_t device) {
    for (int i = 0; i < device_count; i++) if (device == &devices[i]) return i;
    return -1;
}

/* The scripted failure of `function` for this device, or 0. */
static nvmlReturn_t scripted(const char *function, int device) {
    for (int i = 0; i < failure_count; i++)
        if (strcmp(failures[i].function, function) == 0 && (failures[i].device == device || failures[i].device < 0)) return failures[i].code;
    return 0;
}

#define CHECK(function, device) do { \
        if (!initialized) return 1; /* NVML_ERROR_UNINITIALIZED */ \
        if ((device) < 0) return 2; /* NVML_ERROR_INVALID_ARGUMENT */ \
        nvmlReturn_t code = scripted(function, device); \
        if (code) return code; \
    } while (0)

nvmlReturn_t nvmlInit_v2(void) {
    load_script();
    if (init_code) return init_code;
    initialized++; /* as NVML: every init needs its shutdown */
    return 0;
}

nvmlReturn_t nvmlShutdown(void) {
    if (!initialized) return 1;
    initialized--;
    return 0;
}

const char *nvmlErrorString(nvmlReturn_t result) {
    switch (result) {
    case 0: return "Success";
    case 1: return "Uninitialized";
    case 2: return "Invalid Argument";
    case 3: return "Not Supported";
    case 6: return "Not Found";
    case 7: return "Insufficient Size";
    case 9: return "Driver Not Loaded";
    case 15: return "GPU is lost";
    default: return "Unknown Error";
    }
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
    if (!initialized) return 1;
    load_script();
    nvmlReturn_t code = scripted("nvmlDeviceGetCount_v2", -1);
    if (code) return code;
    *count = (unsigned int)device_count;
    return 0;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    CHECK("nvmlDeviceGetHandleByIndex_v2", (int)index < device_count ? (int)index : -1);
    *device = &devices[index];
    return 0;
}

static nvmlReturn_t copy_text(const char *text, char *out, unsigned int length) {
    if (strlen(text) + 1 > length) return 7;
    strcpy(out, text);
    return 0;
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) {
    CHECK("nvmlDeviceGetUUID", index_of(device));
    return copy_text(device->uuid, uuid, length);
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
    CHECK("nvmlDeviceGetName", index_of(device));
    return copy_text(device->name, name, length);
}

#ifndef OMIT_MEMORY_INFO
nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory) {
    CHECK("nvmlDeviceGetMemoryInfo", index_of(device));
    memory->total = device->total;
    memory->used = device->used;
    memory->free = device->total - device->used;
    return 0;
}
#endif

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization) {
    CHECK("nvmlDeviceGetUtilizationRates", index_of(device));
    utilization->gpu = device->gpu;
    utilization->memory = device->memory;
    return 0;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power) {
    CHECK("nvmlDeviceGetPowerUsage", index_of(device));
    *power = device->power;
    return 0;
}

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensor, unsigned int *temperature) {
    CHECK("nvmlDeviceGetTemperature", index_of(device));
    if (sensor != 0) return 2;
    *temperature = device->temperature;
    return 0;
}

/* Two calls, as the real one: the count first (NVML_ERROR_INSUFFICIENT_SIZE while the
   buffer is too small), then the rows. */
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *count, nvmlProcessInfo_t *infos) {
    int index = index_of(device);
    CHECK("nvmlDeviceGetComputeRunningProcesses_v3", index);
    unsigned int n = 0;
    for (int i = 0; i < process_count; i++) if (processes[i].device == index) n++;
    if (infos == NULL || *count < n) {
        *count = n;
        return n == 0 ? 0 : 7;
    }
    unsigned int filled = 0;
    for (int i = 0; i < process_count; i++) {
        if (processes[i].device != index) continue;
        infos[filled].pid = processes[i].pid;
        infos[filled].usedGpuMemory = processes[i].used;
        infos[filled].gpuInstanceId = 0xFFFFFFFF;
        infos[filled].computeInstanceId = 0xFFFFFFFF;
        filled++;
    }
    *count = filled;
    return 0;
}

#ifndef OMIT_PROCESS_UTILIZATION
nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t device, nvmlProcessUtilizationSample_t *utilization,
                                             unsigned int *count, unsigned long long lastSeenTimeStamp) {
    int index = index_of(device);
    CHECK("nvmlDeviceGetProcessUtilization", index);
    unsigned int n = 0;
    for (int i = 0; i < sample_count; i++) if (samples[i].device == index && samples[i].timestamp > lastSeenTimeStamp) n++;
    if (n == 0) return 6; /* NVML_ERROR_NOT_FOUND: no samples since then */
    if (utilization == NULL || *count < n) {
        *count = n;
        return 7;
    }
    unsigned int filled = 0;
    for (int i = 0; i < sample_count; i++) {
        if (samples[i].device != index || samples[i].timestamp <= lastSeenTimeStamp) continue;
        memset(&utilization[filled], 0, sizeof utilization[filled]);
        utilization[filled].pid = samples[i].pid;
        utilization[filled].timeStamp = samples[i].timestamp;
        utilization[filled].smUtil = samples[i].sm;
        utilization[filled].memUtil = samples[i].sm / 2;
        filled++;
    }
    *count = filled;
    return 0;
}
#endif
