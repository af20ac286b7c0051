//! What the lab's SVG pictures share: text escaping, and (for tests) a well-formedness check.

/// Text for SVG content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A small XML well-formedness check: tags nest and close, attribute values are quoted,
/// entities are the five XML ones. Returns the start tags by name.
#[cfg(test)]
pub(crate) fn check_xml(doc: &str) -> Result<Vec<(String, String)>, String> {
    let mut open: Vec<String> = Vec::new();
    let mut tags = Vec::new();
    let mut rest = doc;
    let check_text = |t: &str| -> Result<(), String> {
        let mut parts = t.split('&').skip(1);
        parts.try_for_each(|p| {
            let ok = ["amp;", "lt;", "gt;", "quot;", "apos;"]
                .iter()
                .any(|e| p.starts_with(e));
            if ok {
                Ok(())
            } else {
                Err(format!("bad entity at &{}", &p[..p.len().min(8)]))
            }
        })?;
        if t.contains('>') {
            return Err(format!("bare > in text {t:?}"));
        }
        Ok(())
    };
    while let Some(lt) = rest.find('<') {
        check_text(&rest[..lt])?;
        let gt = rest[lt..].find('>').ok_or("unclosed tag")? + lt;
        let tag = &rest[lt + 1..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            match open.pop() {
                Some(o) if o == name => {}
                o => return Err(format!("</{name}> closes {o:?}")),
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let (name, mut attrs) = body.split_once(' ').unwrap_or((body, ""));
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("bad tag name {name:?}"));
        }
        // name="value" pairs.
        loop {
            attrs = attrs.trim_start();
            if attrs.is_empty() {
                break;
            }
            let eq = attrs
                .find("=\"")
                .ok_or(format!("unquoted attribute in <{tag}>"))?;
            let key = &attrs[..eq];
            if key.is_empty() || key.contains(char::is_whitespace) {
                return Err(format!("bad attribute name {key:?}"));
            }
            let val_end = attrs[eq + 2..].find('"').ok_or("unterminated value")? + eq + 2;
            let value = &attrs[eq + 2..val_end];
            if value.contains('<') {
                return Err(format!("< in attribute {key}"));
            }
            check_text(value)?;
            attrs = &attrs[val_end + 1..];
        }
        tags.push((name.to_owned(), body.to_owned()));
        if !self_closing {
            open.push(name.to_owned());
        }
    }
    check_text(rest)?;
    if !open.is_empty() {
        return Err(format!("unclosed elements {open:?}"));
    }
    if tags.first().map(|t| t.0.as_str()) != Some("svg") {
        return Err("the root is not <svg>".into());
    }
    Ok(tags)
}
