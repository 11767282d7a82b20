# stages/offload/module.mk — the offload stage's extra rules: the GPU
# executor's (`make pixel-gpu`: pixel-cuda, pixel-gpu-tool and
# bench_gpu_harness into $(BUILD)/gpu, where the offload stage looks for
# pixel-cuda; docs/pixel-gpu.md).  Nothing here joins the default build.
-include stages/offload/gpu/module.mk
