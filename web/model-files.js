// Getting a model's files into the page, as the Rust loaders read them (burn_models::hub):
// from a directory the user picks, or from a URL next to the page.

// Every file a model directory may hold that a pipeline reads; absent ones are skipped.
export const MODEL_FILES = [
  "config.json",
  "model.safetensors",
  "model.safetensors.index.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "added_tokens.json",
  "vocab.txt",
  "vocab.json",
  "merges.txt",
  "spiece.model",
  "sentencepiece.bpe.model",
  "source.spm",
  "target.spm",
  "preprocessor_config.json",
  "generation_config.json",
];

const INDEX = "model.safetensors.index.json";

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) return null;
  return new Uint8Array(await response.arrayBuffer());
}

// The model served at `base` (a URL ending in `/`): a Map of file name to bytes.
export async function fetchModel(base) {
  if (!base.endsWith("/")) base += "/";
  const files = new Map();
  const found = await Promise.all(MODEL_FILES.map((name) => fetchBytes(base + name)));
  MODEL_FILES.forEach((name, i) => found[i] && files.set(name, found[i]));
  if (!files.has("config.json")) throw new Error(`no config.json at ${base}`);
  await addShards(files, (name) => fetchBytes(base + name));
  return files;
}

// The model in a directory the user picked (`<input type=file webkitdirectory>`): its
// top-level files, by name.
export async function readPickedModel(fileList) {
  const byName = new Map();
  for (const file of fileList) {
    const parts = (file.webkitRelativePath || file.name).split("/");
    if (parts.length <= 2) byName.set(parts[parts.length - 1], file);
  }
  const files = new Map();
  for (const name of MODEL_FILES) {
    const file = byName.get(name);
    if (file) files.set(name, new Uint8Array(await file.arrayBuffer()));
  }
  if (!files.has("config.json")) throw new Error("the chosen directory has no config.json");
  await addShards(files, async (name) => {
    const file = byName.get(name);
    return file ? new Uint8Array(await file.arrayBuffer()) : null;
  });
  return files;
}

// The shards a sharded checkpoint's index names.
async function addShards(files, read) {
  if (!files.has(INDEX) || files.has("model.safetensors")) return;
  const index = JSON.parse(new TextDecoder().decode(files.get(INDEX)));
  for (const shard of new Set(Object.values(index.weight_map || {}))) {
    const bytes = await read(shard);
    if (!bytes) throw new Error(`${INDEX} names ${shard}, which is missing`);
    files.set(shard, bytes);
  }
}

// The total size of a model's files, in bytes.
export function modelBytes(files) {
  let total = 0;
  for (const bytes of files.values()) total += bytes.length;
  return total;
}

// An image file's bytes as a `data:` URL, the form of image input the JSON interface takes
// besides paths (as transformers' `load_image`).
export function imageDataUrl(bytes) {
  let binary = "";
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + chunk));
  }
  return "data:image/*;base64," + btoa(binary);
}
