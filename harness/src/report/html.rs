//! `index.html`: the report for people. One self-contained file (inline style and script,
//! screenshots as `data:` URLs, a Content-Security-Policy that forbids every fetch), so it
//! opens from a CI artifact or an email attachment without a network.
//!
//! It shows the summary, filters by status, family, severity and text, and for each scenario
//! the expected-versus-observed difference, the reason, the spec citations, the screenshot of a
//! failing browser scenario, every hop of the trace, the decoded AuthnRequest and Response
//! (pretty-printed, highlighted), the plan and the notes.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::error::ReportError;
use super::model::{Report, ResultEntry};
use crate::verdict::{Hop, Status};

/// The file name.
pub const INDEX_HTML: &str = "index.html";

/// Renders `index.html`.
pub fn render_html(report: &Report) -> Result<String, ReportError> {
    let mut out = String::with_capacity(64 * 1024 + report.results.len() * 16 * 1024);
    let title = format!("SAML Harness: {}", report.target.name);
    let _ = write!(
        out,
        concat!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; ",
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
            "<title>{title}</title><style>{css}</style></head><body>\n"
        ),
        title = esc(&title),
        css = CSS
    );
    header(&mut out, report);
    filters(&mut out, report);
    out.push_str("<main id=\"results\">\n");
    for (i, r) in report.results.iter().enumerate() {
        result(&mut out, i, r);
    }
    out.push_str("<p id=\"none\" hidden>No scenario matches these filters.</p>\n</main>\n<script>");
    out.push_str(SCRIPT);
    out.push_str("</script>\n</body></html>\n");
    Ok(out)
}

fn header(out: &mut String, report: &Report) {
    let s = &report.summary;
    let _ = write!(
        out,
        "<header><h1>SAML Harness <span class=\"target\">{}</span></h1>",
        esc(&report.target.name)
    );
    if let Some(d) = &report.target.description {
        let _ = write!(out, "<p class=\"desc\">{}</p>", esc(d));
    }
    let _ = write!(
        out,
        "<p class=\"meta\">started {} · {} scenarios in {:.1} s</p>",
        esc(&report.started_at),
        s.total,
        report.duration_ms as f64 / 1000.0
    );
    if report.interrupted {
        out.push_str("<p class=\"stale\"><b>Interrupted:</b> the run was stopped before it finished; the scenarios that did not finish are listed as errors.</p>");
    }
    out.push_str("<div id=\"summary\" class=\"summary\">");
    for status in Status::ALL {
        let _ = write!(
            out,
            "<button type=\"button\" class=\"chip s-{st}\" data-only=\"{st}\" title=\"show only {st}\"><b>{n}</b> {label}</button>",
            st = status.as_str(),
            n = s.count(status),
            label = status.counted()
        );
    }
    out.push_str("</div>");
    if let Some(profile) = &report.profile {
        sp_profile(out, profile);
    }
    if !s.stale_waivers.is_empty() {
        out.push_str("<ul class=\"stale\">");
        for w in &s.stale_waivers {
            let _ = write!(
                out,
                "<li>stale waiver <code>{}</code> ({}): it no longer matches a failure</li>",
                esc(&w.pattern),
                esc(&w.reason)
            );
        }
        out.push_str("</ul>");
    }
    out.push_str("</header>\n");
}

/// The SP profile, and the contradictions with the target file as warnings.
fn sp_profile(out: &mut String, profile: &crate::profile::Profile) {
    out.push_str("<details class=\"profile\" open><summary>SP profile: what the SP accepts under its defaults</summary><table class=\"hops\"><thead><tr><th>aspect</th><th>tried</th><th>outcome</th><th>observed</th></tr></thead><tbody>");
    for e in &profile.entries {
        let class = match &e.outcome {
            crate::profile::Outcome::Accepted => "s-pass",
            crate::profile::Outcome::SignedInAs(_) => "s-warn",
            crate::profile::Outcome::Refused => "s-fail",
            crate::profile::Outcome::Error => "s-error",
            crate::profile::Outcome::NotRun => "s-skip",
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"{class}\">{}</td><td>{}</td></tr>",
            esc(&e.aspect),
            esc(&e.value),
            esc(&e.outcome.words()),
            esc(&e.observed)
        );
    }
    out.push_str("</tbody></table>");
    if let Some(binding) = &profile.authn_request_binding {
        let _ = write!(
            out,
            "<p>The SP sends its AuthnRequest over {}.</p>",
            esc(binding)
        );
    }
    if !profile.contradictions.is_empty() {
        out.push_str("<ul class=\"stale\">");
        for c in &profile.contradictions {
            let _ = write!(out, "<li>warning: {}</li>", esc(c));
        }
        out.push_str("</ul>");
    }
    out.push_str("</details>");
}

fn family(id: &str) -> &str {
    id.split('/').next().unwrap_or(id)
}

fn filters(out: &mut String, report: &Report) {
    out.push_str("<form id=\"filters\" class=\"filters\" onsubmit=\"return false\"><fieldset id=\"status-filter\"><legend>Status</legend>");
    for status in Status::ALL {
        let present = report.summary.count(status) > 0;
        let _ = write!(
            out,
            "<label class=\"s-{st}\"><input type=\"checkbox\" name=\"status\" value=\"{st}\" checked{dis}> {st}</label>",
            st = status.as_str(),
            dis = if present { "" } else { " disabled" }
        );
    }
    out.push_str("</fieldset><label>Family <select id=\"family\"><option value=\"\">all</option>");
    let families: BTreeSet<&str> = report.results.iter().map(|r| family(&r.id)).collect();
    for f in families {
        let n = report.results.iter().filter(|r| family(&r.id) == f).count();
        let _ = write!(out, "<option value=\"{f}\">{f} ({n})</option>", f = esc(f));
    }
    out.push_str(concat!(
        "</select></label><label>Severity <select id=\"severity\"><option value=\"\">any</option>",
        "<option value=\"critical\">critical</option><option value=\"high\">high</option>",
        "<option value=\"medium\">medium</option><option value=\"low\">low</option></select></label>",
        "<label>Search <input id=\"search\" type=\"search\" placeholder=\"id, title, reason\"></label>",
        "<span class=\"buttons\"><button type=\"button\" id=\"problems\">problems only</button>",
        "<button type=\"button\" id=\"reset\">show all</button>",
        "<button type=\"button\" id=\"expand\">expand shown</button>",
        "<button type=\"button\" id=\"collapse\">collapse all</button></span>",
        "<output id=\"count\"></output></form>\n"
    ));
}

fn result(out: &mut String, index: usize, r: &ResultEntry) {
    let status = r.status.as_str();
    let severity = r.severity.map_or("", |s| s.as_str());
    let search = format!("{} {} {} {}", r.id, r.title, r.reason, r.observed).to_lowercase();
    let _ = write!(
        out,
        "<details class=\"result s-{status}\" id=\"r{index}\" data-id=\"{id}\" data-status=\"{status}\" data-family=\"{family}\" data-severity=\"{severity}\" data-text=\"{search}\">",
        id = esc(&r.id),
        family = esc(family(&r.id)),
        search = esc(&search),
    );
    let _ = write!(
        out,
        "<summary><span class=\"badge s-{status}\">{status}</span>{sev}<code class=\"id\">{id}</code> <span class=\"title\">{title}</span><span class=\"ms\">{ms} ms</span></summary>",
        sev = if severity.is_empty() {
            String::new()
        } else {
            format!("<span class=\"sev v-{severity}\">{severity}</span>")
        },
        id = esc(&r.id),
        title = esc(&r.title),
        ms = r.duration_ms,
    );
    out.push_str("<div class=\"body\">");
    // Expected versus observed, and why.
    let differs = r.expected != r.observed;
    let _ = write!(
        out,
        concat!(
            "<table class=\"diff\"><tr class=\"exp\"><th>expected</th><td><span class=\"mark\">−</span>{e}</td></tr>",
            "<tr class=\"obs{cls}\"><th>observed</th><td><span class=\"mark\">+</span>{o}</td></tr></table>",
            "<p class=\"reason\">{reason}</p>"
        ),
        e = esc(&r.expected),
        o = esc(&r.observed),
        cls = if differs { " differs" } else { "" },
        reason = esc(&r.reason),
    );
    if let Some(why) = &r.severity_reason {
        let _ = write!(out, "<p class=\"level\">severity {}</p>", esc(why));
    }
    if let Some(c) = &r.control {
        let _ = write!(
            out,
            "<p class=\"level\">control: {} · <b>{}</b> · {}</p>",
            esc(&c.name),
            if c.reached { "reached" } else { "not reached" },
            esc(&c.observed)
        );
    }
    if let (Some(exp), Some(obs)) = (&r.expectation, &r.observation) {
        let exp = serde_json::to_string_pretty(exp).unwrap_or_default();
        let obs = serde_json::to_string_pretty(obs).unwrap_or_default();
        let _ = write!(
            out,
            "<div class=\"pair\"><div><h4>expectation</h4><pre>{}</pre></div><div><h4>observation</h4><pre>{}</pre></div></div>",
            esc(&exp),
            esc(&obs)
        );
    }
    let _ = write!(out, "<p class=\"level\">level {}", r.level.as_str());
    if !r.spec.is_empty() {
        out.push_str(" · ");
        for (i, s) in r.spec.iter().enumerate() {
            if i > 0 {
                out.push_str("; ");
            }
            let _ = write!(out, "<cite>{}</cite>", esc(s));
        }
    }
    out.push_str("</p>");
    let ev = &r.evidence;
    if let Some(png) = &ev.screenshot {
        let _ = write!(
            out,
            "<figure class=\"shot\"><img alt=\"what the browser showed\" loading=\"lazy\" src=\"data:image/png;base64,{}\"><figcaption>what the browser showed when the scenario ended</figcaption></figure>",
            esc(png)
        );
    }
    if !ev.hops.is_empty() {
        hops(out, &ev.hops);
    }
    if let Some(xml) = &ev.authn_request {
        section(out, "AuthnRequest (decoded)", &highlight_xml(xml), false);
    }
    if let Some(xml) = &ev.response {
        let pretty = mock_idp::xml::pretty(xml);
        section(
            out,
            "Response (decoded, pretty-printed)",
            &highlight_xml(&pretty),
            false,
        );
    }
    for message in &ev.logout {
        let (title, xml) = message.split_once('\n').unwrap_or((message.as_str(), ""));
        section(out, title, &highlight_xml(xml), false);
    }
    if let Some(probe) = &ev.probe {
        section(out, "session probe", &esc(probe), false);
    }
    if let Some(plan) = &ev.plan {
        let text = serde_json::to_string_pretty(plan).unwrap_or_default();
        section(out, "plan sent to the mock IdP", &esc(&text), true);
    }
    if !ev.notes.is_empty() {
        out.push_str("<h4>notes</h4><ul class=\"notes\">");
        for n in &ev.notes {
            let _ = write!(out, "<li>{}</li>", esc(n));
        }
        out.push_str("</ul>");
    }
    out.push_str("</div></details>\n");
}

fn section(out: &mut String, title: &str, html: &str, closed: bool) {
    let _ = write!(
        out,
        "<details class=\"part\"{}><summary>{}</summary><pre class=\"code\">{}</pre></details>",
        if closed { "" } else { " open" },
        esc(title),
        html
    );
}

fn hops(out: &mut String, hops: &[Hop]) {
    out.push_str("<h4>trace</h4><table class=\"hops\"><thead><tr><th>#</th><th>to</th><th>request</th><th>answer</th><th>ms</th></tr></thead><tbody>");
    for (i, h) in hops.iter().enumerate() {
        let mut request = format!(
            "<code title=\"{}\">{} {}</code>",
            esc(&h.url),
            esc(&h.method),
            esc(&short_url(&h.url))
        );
        if !h.form.is_empty() {
            request.push_str("<ul class=\"form\">");
            for (k, v) in &h.form {
                let _ = write!(
                    request,
                    "<li><code>{}</code> = <code>{}</code></li>",
                    esc(k),
                    esc(v)
                );
            }
            request.push_str("</ul>");
        }
        let mut answer = match h.status {
            Some(s) => format!("<b class=\"http{}\">{s}</b>", s / 100),
            None => "<b class=\"http5\">no answer</b>".to_owned(),
        };
        if let Some(l) = &h.location {
            let _ = write!(
                answer,
                " → <code title=\"{}\">{}</code>",
                esc(l),
                esc(&short_url(l))
            );
        }
        if let Some(e) = &h.error {
            let _ = write!(answer, " <span class=\"err\">{}</span>", esc(e));
        }
        if let Some(body) = &h.body_excerpt {
            let _ = write!(
                answer,
                "<details class=\"bodyx\"><summary>body</summary><pre>{}</pre></details>",
                esc(body)
            );
        }
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"to-{to}\">{to}</td><td>{request}</td><td>{answer}</td><td>{}</td></tr>",
            i + 1,
            h.duration_ms,
            to = esc(&h.to),
        );
    }
    out.push_str("</tbody></table>");
}

/// A URL with its long query values (a SAMLRequest, a SAMLResponse) cut short; the full URL
/// is in the element's title.
fn short_url(url: &str) -> String {
    let Some((path, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if v.len() > 64 => {
                let mut end = 40;
                while !v.is_char_boundary(end) {
                    end -= 1;
                }
                format!("{k}={}… ({} chars)", &v[..end], v.len())
            }
            _ => pair.to_owned(),
        })
        .collect();
    format!("{path}?{}", parts.join("&"))
}

/// Escapes text for HTML (content and attribute values).
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escaped XML with its markup wrapped in spans: tags, attribute names and values, comments,
/// and DOCTYPEs and processing instructions stand out from text.
fn highlight_xml(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len() * 2);
    let mut rest = xml;
    while let Some(start) = rest.find('<') {
        out.push_str(&esc(&rest[..start]));
        let tail = &rest[start..];
        let (end, class) = if tail.starts_with("<!--") {
            (tail.find("-->").map(|e| e + 3), "c")
        } else if tail.starts_with("<![CDATA[") {
            (tail.find("]]>").map(|e| e + 3), "c")
        } else if tail.starts_with("<!") || tail.starts_with("<?") {
            (markup_end(tail), "d")
        } else {
            (markup_end(tail), "t")
        };
        let end = end.unwrap_or(tail.len());
        let markup = &tail[..end];
        if class == "t" {
            out.push_str(&tag(markup));
        } else {
            let _ = write!(out, "<span class=\"x{class}\">{}</span>", esc(markup));
        }
        rest = &tail[end..];
    }
    out.push_str(&esc(rest));
    out
}

/// The end of a tag (after its `>`), skipping `>` inside quoted attribute values.
fn markup_end(tail: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in tail.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// One tag: its name, then each attribute name and value.
fn tag(markup: &str) -> String {
    let skip = if markup.starts_with("</") { 2 } else { 1 };
    let name_end = markup[skip..]
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .map_or(markup.len(), |i| i + skip);
    let (name, attrs) = markup.split_at(name_end);
    let mut out = format!("<span class=\"xt\">{}</span>", esc(name));
    let mut rest = attrs;
    while !rest.is_empty() {
        if let Some(eq) = rest.find('=') {
            let (before, after) = rest.split_at(eq);
            let after = &after[1..];
            let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'');
            if let Some(q) = quote
                && let Some(close) = after[1..].find(q)
            {
                let value = &after[..close + 2];
                let _ = write!(
                    out,
                    "<span class=\"xa\">{}</span>=<span class=\"xv\">{}</span>",
                    esc(before),
                    esc(value)
                );
                rest = &after[close + 2..];
                continue;
            }
        }
        let _ = write!(out, "<span class=\"xt\">{}</span>", esc(rest));
        break;
    }
    out
}

const CSS: &str = r#"
:root{--pass:#1a7f37;--fail:#cf222e;--warn:#9a6700;--skip:#6e7781;--inconclusive:#bc4c00;--error:#8250df;--waived:#0969da;--bg:#fff;--fg:#1f2328;--mute:#656d76;--line:#d0d7de;--soft:#f6f8fa}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
header{padding:16px 24px;border-bottom:1px solid var(--line);background:var(--soft)}h1{margin:0 0 4px;font-size:20px}.target{color:var(--mute);font-weight:500}
.meta,.desc{margin:2px 0;color:var(--mute)}.summary{display:flex;flex-wrap:wrap;gap:8px;margin-top:10px}
.chip{border:1px solid var(--line);border-radius:16px;padding:4px 12px;background:#fff;cursor:pointer;font:inherit}.chip b{font-size:16px}
.chip.s-pass b{color:var(--pass)}.chip.s-fail b{color:var(--fail)}.chip.s-warn b{color:var(--warn)}.chip.s-skip b{color:var(--skip)}.chip.s-inconclusive b{color:var(--inconclusive)}.chip.s-error b{color:var(--error)}.chip.s-waived b{color:var(--waived)}
.stale{color:var(--warn)}.profile{margin-top:10px}.profile td.s-pass{color:var(--pass)}.profile td.s-fail{color:var(--fail)}.profile td.s-warn{color:var(--warn)}
.filters{position:sticky;top:0;z-index:2;display:flex;flex-wrap:wrap;align-items:center;gap:12px;padding:10px 24px;background:#fff;border-bottom:1px solid var(--line)}
.filters fieldset{border:0;margin:0;padding:0;display:flex;gap:8px;align-items:center}.filters legend{float:left;margin-right:6px;font-weight:600}
.filters label{white-space:nowrap}.filters select,.filters input[type=search]{font:inherit;padding:2px 4px}.buttons button{font:inherit;margin-right:4px}
#count{color:var(--mute)}main{padding:8px 24px 40px}
details.result{border:1px solid var(--line);border-left:5px solid var(--skip);border-radius:6px;margin:6px 0;background:#fff}
details.result.s-pass{border-left-color:var(--pass)}details.result.s-fail{border-left-color:var(--fail)}details.result.s-warn{border-left-color:var(--warn)}details.result.s-inconclusive{border-left-color:var(--inconclusive)}details.result.s-error{border-left-color:var(--error)}details.result.s-waived{border-left-color:var(--waived)}
details.result>summary{cursor:pointer;padding:6px 10px;display:flex;gap:8px;align-items:baseline;list-style:none}details.result>summary::-webkit-details-marker{display:none}
details.result>summary::before{content:"▸";color:var(--mute)}details.result[open]>summary::before{content:"▾"}
.badge{display:inline-block;min-width:52px;text-align:center;border-radius:4px;padding:0 6px;color:#fff;font-size:12px;font-weight:600;text-transform:uppercase}
.badge.s-pass{background:var(--pass)}.badge.s-fail{background:var(--fail)}.badge.s-warn{background:var(--warn)}.badge.s-skip{background:var(--skip)}.badge.s-inconclusive{background:var(--inconclusive)}.badge.s-error{background:var(--error)}.badge.s-waived{background:var(--waived)}
.sev{font-size:12px;border-radius:4px;padding:0 6px;border:1px solid}.v-critical{color:#fff;background:#a40e26;border-color:#a40e26}.v-high{color:var(--fail)}.v-medium{color:var(--warn)}.v-low{color:var(--mute)}
.id{font-weight:600}.title{color:var(--mute);flex:1}.ms{color:var(--mute);font-size:12px}
.body{padding:4px 16px 14px;border-top:1px solid var(--line)}
table.diff{border-collapse:collapse;margin:8px 0;width:100%}table.diff th{width:90px;text-align:left;color:var(--mute);font-weight:500;padding:3px 8px}table.diff td{font-family:ui-monospace,monospace;padding:3px 8px}
tr.exp td{background:#e6ffec}tr.obs td{background:#f6f8fa}tr.obs.differs td{background:#ffebe9}.mark{color:var(--mute);margin-right:8px}
.reason{margin:6px 0;font-weight:500}.level{color:var(--mute)}cite{font-style:normal}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:12px}.pair pre{margin:0}h4{margin:12px 0 4px;font-size:13px}
pre{background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:8px;overflow:auto;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;white-space:pre-wrap;word-break:break-all}
pre.code{max-height:520px}
details.part{margin:8px 0}details.part>summary{cursor:pointer;font-weight:600;font-size:13px}
table.hops{border-collapse:collapse;width:100%;font-size:13px}table.hops th,table.hops td{border-bottom:1px solid var(--line);padding:4px 6px;text-align:left;vertical-align:top}
table.hops code{word-break:break-all}.to-sp{color:#0550ae;font-weight:600}.to-idp{color:#8250df;font-weight:600}ul.form{margin:2px 0 0;padding-left:18px}
.http2{color:var(--pass)}.http3{color:var(--waived)}.http4{color:var(--fail)}.http5{color:var(--error)}.err{color:var(--fail)}
.bodyx>summary{cursor:pointer;color:var(--mute);font-size:12px}.bodyx pre{max-height:240px}
.shot img{max-width:100%;border:1px solid var(--line);border-radius:6px}.shot figcaption{color:var(--mute);font-size:12px}
.xt{color:#0550ae}.xa{color:#953800}.xv{color:#0a3069}.xc{color:#6e7781;font-style:italic}.xd{color:#cf222e;font-weight:600}
ul.notes{margin:0;padding-left:18px}
"#;

const SCRIPT: &str = r#"
(function(){
  const results = Array.from(document.querySelectorAll('details.result'));
  const boxes = Array.from(document.querySelectorAll('input[name=status]'));
  const family = document.getElementById('family');
  const severity = document.getElementById('severity');
  const search = document.getElementById('search');
  const count = document.getElementById('count');
  const none = document.getElementById('none');
  function apply(){
    const on = new Set(boxes.filter(b => b.checked).map(b => b.value));
    const f = family.value, s = severity.value, q = search.value.trim().toLowerCase();
    let shown = 0;
    for (const r of results) {
      const ok = on.has(r.dataset.status) && (!f || r.dataset.family === f) &&
        (!s || r.dataset.severity === s) && (!q || r.dataset.text.includes(q));
      r.hidden = !ok;
      if (ok) shown++;
    }
    count.value = shown + ' of ' + results.length + ' shown';
    none.hidden = shown !== 0;
  }
  function only(statuses){
    for (const b of boxes) b.checked = statuses.includes(b.value);
    apply();
  }
  boxes.forEach(b => b.addEventListener('change', apply));
  [family, severity].forEach(e => e.addEventListener('change', apply));
  search.addEventListener('input', apply);
  document.querySelectorAll('[data-only]').forEach(c => c.addEventListener('click', () => only([c.dataset.only])));
  document.getElementById('problems').addEventListener('click', () => only(['fail','error','warn','inconclusive']));
  document.getElementById('reset').addEventListener('click', () => {
    family.value = ''; severity.value = ''; search.value = '';
    only(boxes.map(b => b.value));
  });
  document.getElementById('expand').addEventListener('click', () => results.forEach(r => { if (!r.hidden) r.open = true; }));
  document.getElementById('collapse').addEventListener('click', () => results.forEach(r => r.open = false));
  function openHash(){
    const id = decodeURIComponent(location.hash.slice(1));
    const r = results.find(x => x.dataset.id === id);
    if (r) { r.hidden = false; r.open = true; r.scrollIntoView(); }
  }
  window.addEventListener('hashchange', openHash);
  apply();
  openHash();
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn the_page_is_self_contained_and_lists_every_result() {
        let report = fixtures::report();
        let html = render_html(&report).expect("renders");
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("default-src 'none'"), "no fetch allowed");
        for url_start in ["src=\"http", "href=\"http", "@import", "url("] {
            assert!(
                !html.contains(url_start),
                "no external resource: {url_start}"
            );
        }
        assert_eq!(
            html.matches("<details class=\"result ").count(),
            report.results.len()
        );
        for r in &report.results {
            assert!(
                html.contains(&format!("data-id=\"{}\"", esc(&r.id))),
                "{}",
                r.id
            );
        }
        assert!(html.contains("data-severity=\"critical\""));
        assert!(html.contains("<option value=\"signature\">"));
    }

    #[test]
    fn long_query_values_are_cut_short() {
        let long = "A".repeat(500);
        let url = format!("http://127.0.0.1:1/sso?SAMLRequest={long}&RelayState=abc");
        assert_eq!(
            short_url(&url),
            format!(
                "http://127.0.0.1:1/sso?SAMLRequest={}… (500 chars)&RelayState=abc",
                "A".repeat(40)
            )
        );
        assert_eq!(short_url("http://x/me"), "http://x/me");
    }

    #[test]
    fn markup_from_the_sp_is_escaped() {
        let mut report = fixtures::report();
        report.results[0].observed = "<script>alert(1)</script>".to_owned();
        report.results[0].evidence.notes = vec!["<img src=x onerror=alert(1)>".to_owned()];
        let html = render_html(&report).expect("renders");
        assert!(!html.contains("<script>alert(1)"));
        assert!(!html.contains("<img src=x"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }

    #[test]
    fn logout_messages_are_shown_under_who_sent_them_to_whom() {
        let mut report = fixtures::report();
        report.results[0].evidence.logout = vec![
            "IdP → SP: LogoutRequest\n<samlp:LogoutRequest ID=\"_1\"/>".to_owned(),
            "SP → IdP: <LogoutResponse>\n<samlp:LogoutResponse/>".to_owned(),
        ];
        let html = render_html(&report).expect("renders");
        assert!(
            html.contains("<summary>IdP → SP: LogoutRequest</summary>"),
            "{html}"
        );
        assert!(
            html.contains("&lt;samlp:LogoutRequest"),
            "the XML is escaped"
        );
        assert!(
            html.contains("SP → IdP: &lt;LogoutResponse&gt;"),
            "titles are escaped"
        );
    }

    #[test]
    fn xml_is_highlighted_and_escaped() {
        let xml = "<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY e \"x\">]>\n<samlp:Response ID=\"_1\" Dest=\"a>b\">\n  <!-- c -->\n  <x>t&amp;u</x>\n</samlp:Response>";
        let html = highlight_xml(xml);
        assert!(
            html.contains("<span class=\"xt\">&lt;samlp:Response</span>"),
            "{html}"
        );
        assert!(
            html.contains("<span class=\"xa\"> ID</span>=<span class=\"xv\">&quot;_1&quot;</span>"),
            "{html}"
        );
        assert!(
            html.contains("<span class=\"xv\">&quot;a&gt;b&quot;</span>"),
            "{html}"
        );
        assert!(
            html.contains("<span class=\"xc\">&lt;!-- c --&gt;</span>"),
            "{html}"
        );
        assert!(html.contains("<span class=\"xd\">&lt;!DOCTYPE"), "{html}");
        assert!(html.contains("t&amp;amp;u"), "{html}");
        assert!(
            html.contains("<span class=\"xt\">&lt;/samlp:Response</span>"),
            "{html}"
        );
        assert!(!html.contains("<samlp"), "{html}");
    }
}
