// History-API routing under /app/. Links with href="/app/…" navigate without reloading;
// each route loads its page module on demand (the agency's charts stay out of patient pages).

const routes = [];
let render = () => {};

export function route(pattern, load) {
  routes.push({ pattern, load });
}

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  render();
}

export function match(pathname) {
  for (const { pattern, load } of routes) {
    const found = pathname.match(pattern);
    if (found) return { load, params: found.slice(1).map(decodeURIComponent) };
  }
  return null;
}

export function start(onRoute) {
  render = onRoute;
  window.addEventListener('popstate', () => render());
  document.addEventListener('click', (event) => {
    const link = event.target.closest?.('a[href]');
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || link.target) return;
    const url = new URL(link.href, location.href);
    if (url.origin !== location.origin || !url.pathname.startsWith('/app')) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
  render();
}
