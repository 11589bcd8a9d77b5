// Module loader hooks registered by bench/module-count.mjs: posts the URL and format of every
// module loaded through the ESM loader to the port it was given, and changes nothing.
let port

export function initialize (data) {
  port = data.port
}

export async function load (url, context, nextLoad) {
  const result = await nextLoad(url, context)
  port?.postMessage({ url, format: result.format })
  return result
}
