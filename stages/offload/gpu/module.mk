# stages/offload/gpu/module.mk — optional rules for the GPU executor.
# Nothing here is part of `make`/`make build` (so the normal build never runs
# nvcc); `make pixel-gpu` builds pixel-cuda, pixel-gpu-tool and
# bench_gpu_harness into $(BUILD)/gpu through build.sh, which also works
# alone on a GPU machine without our Debian libraries.  Included by
# stages/offload/module.mk (the top Makefile includes stages/*/module.mk).
.PHONY: pixel-gpu
pixel-gpu:
	bash stages/offload/gpu/build.sh $(BUILD)/gpu
