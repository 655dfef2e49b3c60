/**
 * Which engine the client talks to, for what a reassembled body holds and how connections are
 * used: vLLM, llama.cpp's llama-server, SGLang, or any other OpenAI-compatible server.
 */
export type EngineProfile = 'vllm' | 'llamacpp' | 'sglang' | 'openai';

/** The profiles, and `auto`: chosen from what the engine's /v1/models cards say. */
export const ENGINE_PROFILES = ['auto', 'vllm', 'llamacpp', 'sglang', 'openai'] as const;

/** ENGINE_PROFILE as configured. */
export type EngineProfileSetting = (typeof ENGINE_PROFILES)[number];

/**
 * The `owned_by` each engine writes on its model cards: vLLM `ModelCard.owned_by = "vllm"`
 * (vllm/entrypoints/openai/engine/protocol.py), llama-server `{"owned_by", "llamacpp"}`
 * (tools/server/server-context.cpp, get_models), SGLang `ModelCard.owned_by = "sglang"`
 * (python/sglang/srt/entrypoints/openai/protocol.py).
 */
const OWNERS: Readonly<Record<string, EngineProfile>> = { vllm: 'vllm', llamacpp: 'llamacpp', sglang: 'sglang' };

/** The profile a /v1/models answer names, with why; `openai` when no card names a known engine. */
export function profileFromModels(cards: readonly { owned_by?: unknown }[]): { profile: EngineProfile; reason: string } {
  for (const card of cards) {
    const profile = typeof card.owned_by === 'string' ? OWNERS[card.owned_by] : undefined;
    if (profile) return { profile, reason: `its /v1/models cards say owned_by "${card.owned_by as string}"` };
  }
  const owners = [...new Set(cards.map((c) => String(c.owned_by)))].join(', ') || 'no cards';
  return {
    profile: 'openai',
    reason: `its /v1/models cards name no engine the client knows (owned_by: ${owners}); bodies keep what the engine streams, in the OpenAI shape`,
  };
}

/**
 * Whether the engine closes each connection after a streamed response: llama-server's HTTP
 * library ends the connection when the stream's content provider returns false, which
 * llama-server does at the end of every stream (tools/server/server-http.cpp
 * process_handler_response; cpp-httplib write_content_chunked answers Canceled), while its
 * headers still advertise Keep-Alive. A pooled connection is then dead when reused.
 */
export const closesConnections = (profile: EngineProfile) => profile === 'llamacpp';
