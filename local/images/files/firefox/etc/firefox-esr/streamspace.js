// StreamSpace session defaults (users may change them in their profile).
// Debian's Firefox reads every *.js here (browser/defaults/syspref).
// A session is killed, not closed, when it hibernates or its pod moves:
// never ask to restore a "crashed" session or to start in safe mode.
pref("browser.sessionstore.resume_from_crash", false);
pref("toolkit.startup.max_resumed_crashes", -1);
// No first-run, privacy-notice or default-browser interruptions.
pref("browser.aboutwelcome.enabled", false);
pref("browser.shell.checkDefaultBrowser", false);
pref("datareporting.policy.dataSubmissionPolicyBypassNotification", true);
pref("toolkit.telemetry.reportingpolicy.firstRun", false);
pref("browser.tabs.warnOnClose", false);
// No GPU in a session pod: do not probe for one.
pref("media.hardware-video-decoding.enabled", false);
