# syntax=docker/dockerfile:1
#
# YoutuServer on an NVIDIA GPU box.
#
#   docker build -t youtu-server:latest .                          # CUDA 12, the default (driver: deploy/README.md §1)
#   docker build -t youtu-server:cuda13 --build-arg CUDA_MAJOR=13 .  # CUDA 13 (driver >= 580)
#
# The llama.cpp build is the pinned release of native/ (node-llama-cpp 3.22.1 = llama.cpp 0.5.0-dev), fetched by
# scripts/fetch-native.sh and checked against native/SHA256SUMS and native/INTEGRITY. The CUDA set also holds the CPU
# backends, so the same image runs on a box where no GPU is visible (llama.cpp then silently uses the CPU).
# deploy/README.md walks through build, run, pull, health and metrics.

ARG CUDA_MAJOR=12
# Runtime bases per CUDA major: the "runtime" flavour ships libcudart and libcublas (the "base" flavour lacks cuBLAS,
# "cudnn-runtime" adds 1 GB of cuDNN that llama.cpp does not use).
ARG CUDA12_IMAGE=nvidia/cuda:12.8.1-runtime-ubuntu24.04
ARG CUDA13_IMAGE=nvidia/cuda:13.0.1-runtime-ubuntu24.04
ARG DOTNET_SDK_IMAGE=mcr.microsoft.com/dotnet/sdk:10.0
ARG DOTNET_ASPNET_IMAGE=mcr.microsoft.com/dotnet/aspnet:10.0

# ---------------------------------------------------------------------------------------------------------------------
FROM ${DOTNET_SDK_IMAGE} AS build
ARG CUDA_MAJOR
# npm fetches the pinned llama.cpp packages; nothing else of Node is used.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# Native libraries first: a 300-500 MB download that only changes with the pin, so it gets its own cached layer.
COPY scripts/fetch-native.sh scripts/
COPY native/SHA256SUMS native/INTEGRITY native/
RUN case "${CUDA_MAJOR}" in \
      12) flavour=cuda12 ;; \
      13) flavour=cuda ;; \
      *) echo "CUDA_MAJOR must be 12 or 13, got '${CUDA_MAJOR}'" >&2; exit 2 ;; \
    esac \
 && bash scripts/fetch-native.sh "$flavour" \
 && ls -l native/linux-x64-cuda

# Restore on its own layer (project files only), then build and publish.
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY src/YoutuServer/YoutuServer.csproj src/YoutuServer/
COPY src/YoutuServer.Engine/YoutuServer.Engine.csproj src/YoutuServer.Engine/
COPY src/YoutuServer.Chat/YoutuServer.Chat.csproj src/YoutuServer.Chat/
COPY src/YoutuServer.Native/YoutuServer.Native.csproj src/YoutuServer.Native/
RUN dotnet restore src/YoutuServer/YoutuServer.csproj

COPY src/ src/
COPY models.json ./
# YoutuNativeDir points the Native project at the CUDA set, so publish copies it (with its CPU backends) into /app/llama,
# the folder the loader looks in by default; it picks libllama.cuda.* there automatically.
RUN dotnet publish src/YoutuServer/YoutuServer.csproj -c Release -o /app --no-restore \
      -p:YoutuNativeDir=/src/native/linux-x64-cuda \
 && cp models.json /app/models.json \
 && test -x /app/youtu-server \
 && test -f /app/llama/libllama.cuda.v0.5.0.so \
 && test -f /app/llama/libggml-cuda.so

# ---------------------------------------------------------------------------------------------------------------------
# The ASP.NET Core runtime, copied as-is from Microsoft's image (same Ubuntu 24.04 userland as the CUDA bases):
# pinned by tag, no package feed or install script needed at build time, and byte-identical to what Microsoft ships.
FROM ${DOTNET_ASPNET_IMAGE} AS aspnet

FROM ${CUDA12_IMAGE} AS cuda-12
FROM ${CUDA13_IMAGE} AS cuda-13

# ---------------------------------------------------------------------------------------------------------------------
FROM cuda-${CUDA_MAJOR} AS runtime
# curl for HEALTHCHECK; it also brings libssl, which .NET loads for HTTPS (`pull`). ICU is not needed: the app runs
# with invariant globalization. Package names valid on Ubuntu 22.04 and 24.04 alike (for other CUDA base tags).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates curl tzdata \
 && rm -rf /var/lib/apt/lists/*
COPY --from=aspnet /usr/share/dotnet /usr/share/dotnet
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet
ENV DOTNET_ROOT=/usr/share/dotnet

# A fixed non-root uid, so volume ownership (and Kubernetes fsGroup) can be set to match.
RUN groupadd --system --gid 10001 youtu \
 && useradd --system --uid 10001 --gid youtu --home-dir /home/youtu --create-home --shell /usr/sbin/nologin youtu \
 && mkdir -p /models \
 && chown youtu:youtu /models

COPY --from=build /app /app
WORKDIR /app

# Configuration is the "Youtu" section of ServerOptions (YOUTU__<PROPERTY>); everything can be overridden at run time.
# GPU layers: -1 = offload all when a CUDA device is visible (ignored on CPU). The CUDA JIT cache lives on the models
# volume: GPUs without native code in the build (e.g. Hopper with the CUDA 12 build) compile PTX once, not per start.
ENV YOUTU__HOST=0.0.0.0 \
    YOUTU__PORT=8080 \
    YOUTU__MODELSDIR=/models \
    YOUTU__MODELSFILE=/app/models.json \
    YOUTU__NATIVEDIR=/app/llama \
    YOUTU__NATIVEFLAVOUR=auto \
    YOUTU__GPULAYERS=-1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    CUDA_CACHE_PATH=/models/.nv/ComputeCache \
    CUDA_CACHE_MAXSIZE=4294967296

USER youtu
VOLUME ["/models"]
EXPOSE 8080

# Ready = model loaded and scheduler stepping (503 while loading or draining). The start period covers the model load.
HEALTHCHECK --interval=15s --timeout=5s --start-period=180s --retries=3 \
  CMD curl -fsS -o /dev/null "http://127.0.0.1:${YOUTU__PORT:-8080}/health/ready" || exit 1

ENTRYPOINT ["/app/youtu-server"]
CMD ["serve"]
