# The hub as an image, for deploy/replicas.compose.yaml (built from the repository's root:
#   docker build -f deploy/hub.Dockerfile -t modelhub/hub .).
# node:20-bookworm rather than -slim: better-sqlite3 compiles from source where no prebuilt binary
# fits, and needs its compilers. Debian's Python with numpy, scikit-learn and joblib serves
# python/sklearn servables in process; container servables need MODELHUB_CONTAINERS=docker|swarm
# and a Docker socket, which this file does not give the hub.
FROM node:20-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-numpy python3-sklearn python3-joblib \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/modelhub
COPY package.json package-lock.json ./
# onnxruntime-node's install script would fetch a CUDA add-on; the CPU build ships in the package.
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
COPY . .
RUN npm run build && ln -s /opt/modelhub/bin/modelhub.js /usr/local/bin/modelhub
ENV MODELHUB_HOST=0.0.0.0 MODELHUB_PORT=8700 MODELHUB_DATA=/var/lib/modelhub MODELHUB_PYTHON=/usr/bin/python3 MODELHUB_DEMO=false
RUN mkdir -p /var/lib/modelhub && chown node:node /var/lib/modelhub
USER node
EXPOSE 8700
# npm start: the compiled hub with the memory settings of scripts/serve.sh.
CMD ["sh", "scripts/serve.sh"]
