//! `runtime` (node, profile), `[platform.gateway] model` and `[experiment.cold] image_cache`:
//! names checked, containerd only where the local platform runs it and the host has it.

use super::*;

/// Parse a `runtime` field.
pub(super) fn parse_runtime(cx: &Cx, r: &Spanned<String>, field: &str) -> R<ReplicaRuntime> {
    ReplicaRuntime::parse(r.get_ref()).ok_or_else(|| {
        cx.err(
            r.span(),
            field,
            format!(
                "unknown runtime {:?}; use \"process\" (a host process) or \"containerd\" (a container)",
                r.get_ref()
            ),
        )
    })
}

/// Parse `[platform.gateway] model` (default `none`).
pub(super) fn gateway_model(cx: &Cx, g: &RawGateway) -> R<GatewayModel> {
    let Some(m) = &g.model else {
        return Ok(GatewayModel::None);
    };
    GatewayModel::parse(m.get_ref()).ok_or_else(|| {
        cx.err(
            m.span(),
            "platform.gateway.model",
            format!(
                "unknown gateway model {:?}; use \"none\" (use a replica once healthy) or \"openfaas-ce\" (readiness probe, 100 ms replica polling, 250 ms cache)",
                m.get_ref()
            ),
        )
    })
}

/// Parse `[experiment.cold] image_cache` (default `present`).
pub(super) fn image_cache(cx: &Cx, c: &Option<Spanned<String>>) -> R<ImageCache> {
    let Some(c) = c else {
        return Ok(ImageCache::Present);
    };
    ImageCache::parse(c.get_ref()).ok_or_else(|| {
        cx.err(
            c.span(),
            "experiment.cold.image_cache",
            format!(
                "unknown image_cache {:?}; use \"present\" or \"fresh\" (import the image again before each cold start)",
                c.get_ref()
            ),
        )
    })
}

/// A node may run containers only on the local platform, and only where containerd, runc and
/// the CNI bridge plugin are installed. `span` points at the field that chose containerd.
pub(super) fn check_containerd(
    cx: &Cx,
    kind: PlatformKind,
    node: &str,
    span: Range<usize>,
    field: &str,
) -> R<()> {
    if kind != PlatformKind::Local {
        return Err(cx.err(
            span,
            field,
            format!("node {node}: runtime \"containerd\" is a local-platform runtime; on k3d and existing clusters replicas are pods already"),
        ));
    }
    let missing = missing_containerd_tools();
    if !missing.is_empty() {
        return Err(cx.err(
            span,
            field,
            format!(
                "node {node}: runtime \"containerd\" needs {} on this host; run `sudo {CONTAINERD_APT}`, or use runtime = \"process\"",
                missing.join(", ")
            ),
        ));
    }
    Ok(())
}

/// `[platform] containerd_socket`: an absolute path (faasbed uses that containerd and never
/// stops it).
pub(super) fn containerd_socket(
    cx: &Cx,
    s: &Option<Spanned<String>>,
) -> R<Option<std::path::PathBuf>> {
    let Some(s) = s else {
        return Ok(None);
    };
    let p = std::path::PathBuf::from(s.get_ref());
    if !p.is_absolute() {
        return Err(cx.err(
            s.span(),
            "platform.containerd_socket",
            "the containerd socket must be an absolute path, e.g. \"/run/containerd/containerd.sock\"; leave it out and faasbed starts its own containerd",
        ));
    }
    Ok(Some(p))
}
