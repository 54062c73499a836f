// The signed-in user's token, kept for the browser tab's session (sessionStorage): the pages
// call the API with it; nothing else about the user is trusted from the browser.

const KEY = 'nrdl.session';

export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || 'null');
  } catch {
    return null;
  }
}

/** Stores `token` with how the service sees it (`whoami`) and a display name. */
export function signIn(token, who, name) {
  sessionStorage.setItem(KEY, JSON.stringify({ token, who, name: name || '' }));
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}

/** The page a role lands on. */
export function homeOf(role) {
  return { patient: '/app/patient', pharmacist: '/app/pharmacy', agency: '/app/agency', admin: '/app/agency' }[role] || '/app/login';
}

export const ROLE_NAMES = {
  patient: '参保患者',
  physician: '责任医师',
  hospital_office: '医院医保办',
  pharmacist: '药师',
  agency: '医保经办机构',
  admin: '管理员',
  public: '访客',
};
