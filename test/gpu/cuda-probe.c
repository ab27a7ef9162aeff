/* cuda-probe: checks a container's GPU wiring through CUDA's driver API,
 * loaded with dlopen("libcuda.so.1"), so that it builds without a CUDA
 * toolkit and runs on any driver (test/gpu/real-driver.sh carries it).
 *
 * Usage: cuda-probe [--info]
 *
 * Prints "driver: VERSION" (cuDriverGetVersion, e.g. 12040 for CUDA 12.4),
 * "devices: N" (cuDeviceGetCount) and "device I: NAME" for each. Without
 * --info, also for each device: a context, a kernel JIT-compiled by the
 * driver from the PTX below (this needs the driver's
 * libnvidia-ptxjitcompiler), 32 threads that each write VALUE + THREAD
 * into device memory, copied back and checked: "device I: kernel ok".
 *
 * Exit status: 0 when every step worked and there is at least one device;
 * 1 otherwise, with one line on stderr naming the call and CUDA's error
 * (cuGetErrorName), or dlerror(). */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;
typedef void* CUcontext;
typedef void* CUmodule;
typedef void* CUfunction;
typedef unsigned long long CUdeviceptr;

/* fill(p, v): p[threadIdx.x] = v + threadIdx.x. PTX 6.0 for sm_50: any
 * driver since CUDA 9 JIT-compiles it for its GPUs. */
static const char kPtx[] = ".version 6.0\n"
                           ".target sm_50\n"
                           ".address_size 64\n"
                           ".visible .entry fill(.param .u64 p, .param .u32 v)\n"
                           "{\n"
                           "  .reg .b32 %r<4>;\n"
                           "  .reg .b64 %rd<4>;\n"
                           "  ld.param.u64 %rd1, [p];\n"
                           "  ld.param.u32 %r1, [v];\n"
                           "  cvta.to.global.u64 %rd2, %rd1;\n"
                           "  mov.u32 %r2, %tid.x;\n"
                           "  mul.wide.u32 %rd3, %r2, 4;\n"
                           "  add.s64 %rd2, %rd2, %rd3;\n"
                           "  add.u32 %r3, %r1, %r2;\n"
                           "  st.global.u32 [%rd2], %r3;\n"
                           "  ret;\n"
                           "}\n";

enum { kThreads = 32 };
static const unsigned kValue = 1000;

static void* cuda;
static CUresult (*get_error_name)(CUresult, const char**);

static void* sym(const char* name) {
    void* p = dlsym(cuda, name);
    if (p == NULL) {
        fprintf(stderr, "cuda-probe: %s: %s\n", name, dlerror());
    }
    return p;
}

/* 1 (after one line on stderr) unless r is CUDA_SUCCESS. */
static int failed(CUresult r, const char* call) {
    if (r == 0) {
        return 0;
    }
    const char* name = NULL;
    if (get_error_name == NULL || get_error_name(r, &name) != 0 || name == NULL) {
        name = "unknown error";
    }
    fprintf(stderr, "cuda-probe: %s: %s (%d)\n", call, name, r);
    return 1;
}

/* The calls of the kernel check, resolved once. */
static struct {
    CUresult (*ctx_create)(CUcontext*, unsigned, CUdevice);
    CUresult (*ctx_destroy)(CUcontext);
    CUresult (*module_load)(CUmodule*, const void*);
    CUresult (*get_function)(CUfunction*, CUmodule, const char*);
    CUresult (*mem_alloc)(CUdeviceptr*, size_t);
    CUresult (*mem_free)(CUdeviceptr);
    CUresult (*launch)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                       unsigned, void*, void**, void**);
    CUresult (*synchronize)(void);
    CUresult (*copy_back)(void*, CUdeviceptr, size_t);
} k;

/* 0, or 1 after one line on stderr naming the first call missing. */
static int resolve_kernel_calls(void) {
    return !((k.ctx_create = sym("cuCtxCreate_v2")) && (k.ctx_destroy = sym("cuCtxDestroy_v2")) &&
             (k.module_load = sym("cuModuleLoadData")) &&
             (k.get_function = sym("cuModuleGetFunction")) &&
             (k.mem_alloc = sym("cuMemAlloc_v2")) && (k.mem_free = sym("cuMemFree_v2")) &&
             (k.launch = sym("cuLaunchKernel")) && (k.synchronize = sym("cuCtxSynchronize")) &&
             (k.copy_back = sym("cuMemcpyDtoH_v2")));
}

static int run_kernel(int index, CUdevice dev) {
    CUcontext ctx = NULL;
    if (failed(k.ctx_create(&ctx, 0, dev), "cuCtxCreate")) {
        return 1;
    }
    int bad = 1;
    CUmodule module = NULL;
    CUfunction fill = NULL;
    CUdeviceptr out = 0;
    unsigned host[kThreads];
    memset(host, 0, sizeof host);
    if (!failed(k.module_load(&module, kPtx), "cuModuleLoadData (PTX JIT)") &&
        !failed(k.get_function(&fill, module, "fill"), "cuModuleGetFunction") &&
        !failed(k.mem_alloc(&out, sizeof host), "cuMemAlloc")) {
        unsigned value = kValue;
        void* params[] = {&out, &value};
        if (!failed(k.launch(fill, 1, 1, 1, kThreads, 1, 1, 0, NULL, params, NULL),
                    "cuLaunchKernel") &&
            !failed(k.synchronize(), "cuCtxSynchronize") &&
            !failed(k.copy_back(host, out, sizeof host), "cuMemcpyDtoH")) {
            bad = 0;
            for (unsigned i = 0; i < kThreads; ++i) {
                if (host[i] != kValue + i) {
                    fprintf(stderr, "cuda-probe: device %d: thread %u wrote %u, not %u\n", index, i,
                            host[i], kValue + i);
                    bad = 1;
                    break;
                }
            }
        }
        if (out != 0) {
            k.mem_free(out);
        }
    }
    k.ctx_destroy(ctx);
    if (!bad) {
        printf("device %d: kernel ok\n", index);
    }
    return bad;
}

int main(int argc, char** argv) {
    const int info_only = argc == 2 && strcmp(argv[1], "--info") == 0;
    if (argc > 2 || (argc == 2 && !info_only)) {
        fprintf(stderr, "usage: cuda-probe [--info]\n");
        return 2;
    }
    cuda = dlopen("libcuda.so.1", RTLD_NOW);
    if (cuda == NULL) {
        fprintf(stderr, "cuda-probe: %s\n", dlerror());
        return 1;
    }
    get_error_name = dlsym(cuda, "cuGetErrorName");
    CUresult (*init)(unsigned) = sym("cuInit");
    CUresult (*driver_version)(int*) = sym("cuDriverGetVersion");
    CUresult (*device_count)(int*) = sym("cuDeviceGetCount");
    CUresult (*device_get)(CUdevice*, int) = sym("cuDeviceGet");
    CUresult (*device_name)(char*, int, CUdevice) = sym("cuDeviceGetName");
    if (!init || !driver_version || !device_count || !device_get || !device_name) {
        return 1;
    }
    if (!info_only && resolve_kernel_calls()) {
        return 1;
    }
    int version = 0, count = 0;
    if (failed(init(0), "cuInit") || failed(driver_version(&version), "cuDriverGetVersion") ||
        failed(device_count(&count), "cuDeviceGetCount")) {
        return 1;
    }
    printf("driver: %d\ndevices: %d\n", version, count);
    int bad = count < 1;
    for (int i = 0; i < count; ++i) {
        CUdevice dev = 0;
        char name[256] = "";
        if (failed(device_get(&dev, i), "cuDeviceGet") ||
            failed(device_name(name, (int)sizeof name, dev), "cuDeviceGetName")) {
            return 1;
        }
        printf("device %d: %s\n", i, name);
        fflush(stdout);
        if (!info_only) {
            bad |= run_kernel(i, dev);
        }
    }
    if (count < 1) {
        fprintf(stderr, "cuda-probe: no device\n");
    }
    return bad;
}
