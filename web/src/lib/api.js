// Calls the back end's API with the signed-in user's token. Errors come back as RFC 9457
// problem documents; they are thrown as ApiProblem so pages show title, rule and reasons.
import { session } from './session.js';

export class ApiProblem extends Error {
  constructor(status, problem) {
    super(problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

/**
 * `api('/api/catalogue/drugs?q=…')`, `api(path, { method: 'POST', json: {...} })`,
 * `api(path, { method: 'POST', body: file, type: 'text/csv' })`.
 * Returns parsed JSON (or text for text/plain answers).
 */
export async function api(path, { method = 'GET', json, body, type, token } = {}) {
  const headers = { accept: 'application/json, application/problem+json, text/plain' };
  const bearer = token === undefined ? session()?.token : token;
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  if (json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (type) {
    headers['content-type'] = type;
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body });
  } catch {
    throw new ApiProblem(0, { title: '无法连接服务', detail: '网络中断或服务未启动，请稍后重试。', code: 'NETWORK' });
  }
  const contentType = response.headers.get('content-type') || '';
  if (!response.ok) {
    let problem = { title: `请求失败（${response.status}）`, detail: '' };
    if (contentType.includes('json')) {
      try {
        problem = await response.json();
      } catch {
        /* keep the generic problem */
      }
    }
    throw new ApiProblem(response.status, problem);
  }
  if (contentType.startsWith('text/')) return response.text();
  if (response.status === 204) return null;
  return response.json();
}

/** Query string from an object, leaving out empty values. */
export function qs(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
