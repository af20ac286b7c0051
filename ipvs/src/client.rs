//! The async IPVS client (feature `tokio`), driving a netlink socket directly.
//!
//! Writes are pipelined: [`Client::apply`] packs up to [`BATCH`] requests
//! into one `sendmsg` (the kernel processes every message of a datagram in
//! order and acknowledges each), then matches the acknowledgements to the
//! operations by sequence number. Each operation gets its own result.
//!
//! Dumps run one at a time (the kernel allows one dump in progress per socket).

use crate::diff::{Op, plan};
use crate::error::{Error, OpError};
use crate::model::{
    DaemonRole, Destination, DestinationEntry, Info, Service, ServiceEntry, ServiceKey, SyncDaemon,
    Timeouts, VirtualService, dest_msg, svc_msg,
};
use crate::wire::{CmdAttr, IpvsCmd, IpvsMessage, decode_datagram, encode_request};
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_generic::GenlMessage;
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_sys::{
    AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket, protocols::NETLINK_GENERIC,
};

/// How many requests go into one datagram. Each acknowledgement costs about
/// 1 KiB of the socket's receive buffer until read, so this stays well under
/// the default limit.
pub const BATCH: usize = 128;

const RX_BUF: usize = 128 * 1024;

/// The outcome of [`Client::apply`]: one result per operation, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    /// `results[i]` is the outcome of `ops[i]`.
    pub results: Vec<Result<(), OpError>>,
}

impl ApplyReport {
    /// How many operations succeeded.
    pub fn succeeded(&self) -> usize {
        self.results.iter().filter(|r| r.is_ok()).count()
    }

    /// The failures, with the index of their operation.
    pub fn failures(&self) -> impl Iterator<Item = (usize, &OpError)> {
        self.results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e)))
    }

    /// Whether every operation succeeded.
    pub fn is_ok(&self) -> bool {
        self.results.iter().all(|r| r.is_ok())
    }

    /// The first failure as an error, if any.
    pub fn into_result(self) -> Result<(), OpError> {
        self.results.into_iter().collect()
    }
}

/// What [`Client::reconcile`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileReport {
    /// The operations the diff produced.
    pub ops: Vec<Op>,
    /// Their outcomes.
    pub report: ApplyReport,
}

/// A connection to the kernel's IPVS generic-netlink family.
pub struct Client {
    sock: TokioSocket,
    family: u16,
    seq: u32,
    tx: Vec<u8>,
    rx: Vec<u8>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("family", &self.family)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

/// `modprobe -q -- ip_vs`, as ipvsadm runs it when the family is missing. Blocks for the
/// module load (once, when connecting).
fn load_ip_vs() -> Result<(), Error> {
    let out = std::process::Command::new("modprobe")
        .args(["-q", "--", "ip_vs"])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error::ModuleNotLoaded {
            detail: format!("cannot run modprobe: {e}"),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(Error::ModuleNotLoaded {
            detail: format!("modprobe ip_vs: {} {}", out.status, stderr.trim()),
        })
    }
}

impl Client {
    /// Open a generic netlink socket and resolve the `IPVS` family id (once). When the kernel
    /// has no IPVS family, loads the `ip_vs` module with `modprobe` and tries again, as
    /// ipvsadm does ([`Error::ModuleNotLoaded`] if that does not help); see
    /// [`Client::connect_no_load`] to never run `modprobe`.
    pub async fn connect() -> Result<Client, Error> {
        match Client::connect_no_load().await {
            Err(Error::FamilyNotFound) => {
                load_ip_vs()?;
                Client::connect_no_load().await.map_err(|e| match e {
                    Error::FamilyNotFound => Error::ModuleNotLoaded {
                        detail: "modprobe succeeded but the family is still missing".into(),
                    },
                    other => other,
                })
            }
            other => other,
        }
    }

    /// [`Client::connect`] without running `modprobe`: fails with [`Error::FamilyNotFound`]
    /// when the kernel has no IPVS. (A kernel with module autoloading may still load `ip_vs`
    /// by itself when the family is asked for, through the module's generic netlink alias.)
    pub async fn connect_no_load() -> Result<Client, Error> {
        let mut sock = TokioSocket::new(NETLINK_GENERIC).map_err(io("open"))?;
        sock.socket_mut().bind_auto().map_err(io("bind"))?;
        sock.socket_mut()
            .connect(&SocketAddr::new(0, 0))
            .map_err(io("connect"))?;
        // Best effort: acks without the echoed request, and room for many of them.
        let _ = sock.socket_ref().set_cap_ack(true);
        let _ = sock.socket_ref().set_rx_buf_sz(1 << 20);
        let mut c = Client {
            sock,
            family: 0,
            seq: 0,
            tx: Vec::with_capacity(64 * 1024),
            rx: Vec::with_capacity(RX_BUF),
        };
        c.family = c.resolve_family().await?;
        Ok(c)
    }

    /// The resolved family id.
    pub fn family_id(&self) -> u16 {
        self.family
    }

    async fn resolve_family(&mut self) -> Result<u16, Error> {
        let mut genl = GenlMessage::from_payload(GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName(
                crate::wire::IPVS_GENL_NAME.into(),
            )],
        });
        genl.finalize();
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK;
        self.seq += 1;
        let seq = self.seq;
        header.sequence_number = seq;
        let mut nl = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(genl));
        nl.finalize();
        let mut buf = vec![0; nl.buffer_len()];
        nl.serialize(&mut buf);
        self.sock.send(&buf).await.map_err(io("send"))?;
        let mut id = None;
        loop {
            self.recv().await?;
            let mut off = 0;
            while off < self.rx.len() {
                let b = netlink_packet_core::NetlinkBuffer::new_checked(&self.rx[off..])
                    .map_err(|e| Error::Decode(e.to_string()))?;
                let len = b.length() as usize;
                let m =
                    NetlinkMessage::<GenlMessage<GenlCtrl>>::deserialize(&self.rx[off..off + len])
                        .map_err(|e| Error::Decode(e.to_string()))?;
                off += (len + 3) & !3;
                if m.header.sequence_number != seq {
                    continue;
                }
                match m.payload {
                    NetlinkPayload::InnerMessage(g) => {
                        for a in g.payload.nlas {
                            if let GenlCtrlAttrs::FamilyId(v) = a {
                                id = Some(v);
                            }
                        }
                    }
                    NetlinkPayload::Error(e) => {
                        return match (e.raw_code(), id) {
                            (0, Some(v)) => Ok(v),
                            (0, None) => Err(Error::Decode("family reply without an id".into())),
                            (-2, _) => Err(Error::FamilyNotFound),
                            (c, _) => Err(Error::Kernel(OpError::new(
                                "resolve generic netlink family IPVS",
                                IpvsCmd::Other(3),
                                -c,
                            ))),
                        };
                    }
                    _ => {}
                }
            }
        }
    }

    async fn recv(&mut self) -> Result<(), Error> {
        self.rx.clear();
        if self.rx.capacity() < RX_BUF {
            self.rx.reserve(RX_BUF);
        }
        self.sock.recv(&mut self.rx).await.map_err(io("recv"))
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        if self.seq == 0 {
            self.seq = 1;
        }
        self.seq
    }

    /// Send raw IPVS messages (each with `NLM_F_ACK`), pipelined, and return
    /// each one's errno (0 = success). For operations the model cannot express.
    pub async fn execute_raw(&mut self, msgs: &[IpvsMessage]) -> Result<Vec<i32>, Error> {
        let mut out = Vec::with_capacity(msgs.len());
        for chunk in msgs.chunks(BATCH) {
            out.extend(self.execute_chunk(chunk.iter().cloned()).await?);
        }
        Ok(out)
    }

    async fn execute_chunk(
        &mut self,
        msgs: impl Iterator<Item = IpvsMessage>,
    ) -> Result<Vec<i32>, Error> {
        self.tx.clear();
        let first = self.seq.wrapping_add(1);
        let mut n = 0usize;
        for m in msgs {
            let seq = self.next_seq();
            encode_request(self.family, seq, NLM_F_REQUEST | NLM_F_ACK, m, &mut self.tx);
            n += 1;
        }
        let mut codes = vec![None; n];
        let mut pending = n;
        self.sock.send(&self.tx).await.map_err(io("send"))?;
        while pending > 0 {
            self.recv().await?;
            for m in decode_datagram(&self.rx) {
                let m = m.map_err(|e| Error::Decode(e.to_string()))?;
                if let NetlinkPayload::Error(e) = &m.payload {
                    let idx = m.header.sequence_number.wrapping_sub(first) as usize;
                    if idx < n && codes[idx].is_none() {
                        codes[idx] = Some(-e.raw_code());
                        pending -= 1;
                    }
                }
            }
        }
        Ok(codes.into_iter().map(|c| c.unwrap_or(0)).collect())
    }

    /// Apply operations, pipelined, and report each one's outcome. Only a
    /// socket failure is an `Err`; kernel refusals are in the report, each
    /// naming what was sent. The kernel handles the operations in order, so a
    /// destination added after a failed service add fails with ESRCH.
    pub async fn apply(&mut self, ops: &[Op]) -> Result<ApplyReport, Error> {
        let mut results = Vec::with_capacity(ops.len());
        for chunk in ops.chunks(BATCH) {
            let codes = self.execute_chunk(chunk.iter().map(Op::to_message)).await?;
            for (op, code) in chunk.iter().zip(codes) {
                results.push(if code == 0 {
                    Ok(())
                } else {
                    Err(OpError::new(op.to_string(), op.to_message().cmd, code))
                });
            }
        }
        Ok(ApplyReport { results })
    }

    /// Like [`Client::apply`], but an add that fails with EEXIST counts as
    /// success when the existing object is identical to the requested one;
    /// when it differs, the error names both (the requested object in `op`,
    /// then `; existing: ...`). One extra read per EEXIST.
    pub async fn apply_idempotent(&mut self, ops: &[Op]) -> Result<ApplyReport, Error> {
        let mut report = self.apply(ops).await?;
        for (op, r) in ops.iter().zip(report.results.iter_mut()) {
            let Err(e) = r else { continue };
            if !e.is_exists() {
                continue;
            }
            let existing = match op {
                Op::AddService(s) => self
                    .service(&s.key)
                    .await?
                    .map(|found| (found.service == *s, format!("{:?}", found.service))),
                Op::AddDest(k, d) => self
                    .destinations(k)
                    .await?
                    .into_iter()
                    .find(|x| x.destination.addr == d.addr)
                    .map(|x| (x.destination == *d, format!("{:?}", x.destination))),
                _ => None,
            };
            match existing {
                Some((true, _)) => *r = Ok(()),
                Some((false, found)) => e.op = format!("{}; existing: {found}", e.op),
                None => {}
            }
        }
        Ok(report)
    }

    /// Apply one operation.
    pub async fn execute(&mut self, op: &Op) -> Result<(), Error> {
        let r = self.apply(std::slice::from_ref(op)).await?;
        r.into_result().map_err(Error::Kernel)
    }

    /// Read the current state, diff it against `desired` (validated first, so
    /// bad input changes nothing) and apply the operations.
    pub async fn reconcile(
        &mut self,
        desired: &[VirtualService],
    ) -> Result<ReconcileReport, Error> {
        crate::diff::validate(desired)?;
        let current = self.state().await?;
        let ops = plan(&current, desired)?;
        let report = self.apply(&ops).await?;
        Ok(ReconcileReport { ops, report })
    }

    /// One request; collect the reply messages (until the ack or the dump's end).
    async fn query(&mut self, msg: IpvsMessage, dump: bool) -> Result<Vec<IpvsMessage>, Error> {
        let cmd = msg.cmd;
        let what = format!("{cmd:?}");
        self.tx.clear();
        let seq = self.next_seq();
        let flags = NLM_F_REQUEST | if dump { NLM_F_DUMP } else { NLM_F_ACK };
        encode_request(self.family, seq, flags, msg, &mut self.tx);
        self.sock.send(&self.tx).await.map_err(io("send"))?;
        let mut out = Vec::new();
        loop {
            self.recv().await?;
            for m in decode_datagram(&self.rx) {
                let m = m.map_err(|e| Error::Decode(e.to_string()))?;
                if m.header.sequence_number != seq {
                    continue;
                }
                match m.payload {
                    NetlinkPayload::InnerMessage(g) => out.push(g.payload),
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::Error(e) => {
                        let code = -e.raw_code();
                        if code == 0 {
                            return Ok(out);
                        }
                        return Err(Error::Kernel(OpError::new(what, cmd, code)));
                    }
                    _ => {}
                }
            }
        }
    }

    async fn query_named(
        &mut self,
        msg: IpvsMessage,
        dump: bool,
        what: impl FnOnce() -> String,
    ) -> Result<Vec<IpvsMessage>, Error> {
        match self.query(msg, dump).await {
            Err(Error::Kernel(mut e)) => {
                e.op = what();
                Err(Error::Kernel(e))
            }
            r => r,
        }
    }

    /// Every service, with counters.
    pub async fn services(&mut self) -> Result<Vec<ServiceEntry>, Error> {
        let msgs = self
            .query_named(IpvsMessage::new(IpvsCmd::GetService, vec![]), true, || {
                "list services".into()
            })
            .await?;
        let mut out = Vec::with_capacity(msgs.len());
        for m in msgs {
            for a in m.attrs {
                if let CmdAttr::Service(s) = a {
                    out.push(Service::from_attrs(&s)?);
                }
            }
        }
        Ok(out)
    }

    /// One service, or `None` if it does not exist.
    pub async fn service(&mut self, key: &ServiceKey) -> Result<Option<ServiceEntry>, Error> {
        let r = self
            .query_named(svc_msg(IpvsCmd::GetService, key.to_attrs()), false, || {
                format!("get service {key}")
            })
            .await;
        let msgs = match r {
            Err(Error::Kernel(e)) if e.is_no_service() || e.is_not_found() => return Ok(None),
            r => r?,
        };
        for m in msgs {
            for a in m.attrs {
                if let CmdAttr::Service(s) = a {
                    return Ok(Some(Service::from_attrs(&s)?));
                }
            }
        }
        Ok(None)
    }

    /// The destinations of a service, with counters.
    pub async fn destinations(&mut self, key: &ServiceKey) -> Result<Vec<DestinationEntry>, Error> {
        let msgs = self
            .query_named(
                IpvsMessage::new(IpvsCmd::GetDest, vec![CmdAttr::Service(key.to_attrs())]),
                true,
                || format!("list destinations of service {key}"),
            )
            .await?;
        let mut out = Vec::with_capacity(msgs.len());
        for m in msgs {
            for a in m.attrs {
                if let CmdAttr::Dest(d) = a {
                    out.push(Destination::from_attrs(&d, key.family())?);
                }
            }
        }
        Ok(out)
    }

    /// Every service and its destinations, with counters.
    pub async fn dump(&mut self) -> Result<Vec<(ServiceEntry, Vec<DestinationEntry>)>, Error> {
        let services = self.services().await?;
        let mut out = Vec::with_capacity(services.len());
        for s in services {
            let d = self.destinations(&s.service.key).await?;
            out.push((s, d));
        }
        Ok(out)
    }

    /// The current state as the model (no counters), for [`crate::diff()`].
    pub async fn state(&mut self) -> Result<Vec<VirtualService>, Error> {
        Ok(self
            .dump()
            .await?
            .into_iter()
            .map(|(s, d)| VirtualService {
                service: s.service,
                destinations: d.into_iter().map(|e| e.destination).collect(),
            })
            .collect())
    }

    /// Add a service.
    pub async fn add_service(&mut self, s: &Service) -> Result<(), Error> {
        self.execute(&Op::AddService(s.clone())).await
    }

    /// Change a service's settings.
    pub async fn edit_service(&mut self, s: &Service) -> Result<(), Error> {
        self.execute(&Op::EditService(s.clone())).await
    }

    /// Delete a service and its destinations.
    pub async fn del_service(&mut self, key: &ServiceKey) -> Result<(), Error> {
        self.execute(&Op::DelService(*key)).await
    }

    /// Add a destination.
    pub async fn add_dest(&mut self, key: &ServiceKey, d: &Destination) -> Result<(), Error> {
        self.execute(&Op::AddDest(*key, d.clone())).await
    }

    /// Change a destination's settings.
    pub async fn edit_dest(&mut self, key: &ServiceKey, d: &Destination) -> Result<(), Error> {
        self.execute(&Op::EditDest(*key, d.clone())).await
    }

    /// Delete a destination.
    pub async fn del_dest(
        &mut self,
        key: &ServiceKey,
        addr: std::net::SocketAddr,
    ) -> Result<(), Error> {
        self.execute(&Op::DelDest(*key, addr)).await
    }

    async fn simple(&mut self, msg: IpvsMessage, what: String) -> Result<(), Error> {
        self.query_named(msg, false, || what).await.map(|_| ())
    }

    /// Delete every service (`ipvsadm -C`).
    pub async fn flush(&mut self) -> Result<(), Error> {
        self.simple(IpvsMessage::new(IpvsCmd::Flush, vec![]), "flush".into())
            .await
    }

    /// Zero the counters of one service, or of all (`ipvsadm -Z`).
    pub async fn zero(&mut self, key: Option<&ServiceKey>) -> Result<(), Error> {
        let attrs = key
            .map(|k| vec![CmdAttr::Service(k.to_attrs())])
            .unwrap_or_default();
        let what = match key {
            Some(k) => format!("zero counters of service {k}"),
            None => "zero all counters".into(),
        };
        self.simple(IpvsMessage::new(IpvsCmd::Zero, attrs), what)
            .await
    }

    /// The connection timeouts.
    pub async fn timeouts(&mut self) -> Result<Timeouts, Error> {
        let msgs = self
            .query_named(IpvsMessage::new(IpvsCmd::GetConfig, vec![]), false, || {
                "get timeouts".into()
            })
            .await?;
        Ok(msgs
            .first()
            .map(|m| Timeouts::from_attrs(&m.attrs))
            .unwrap_or_default())
    }

    /// Set the connection timeouts (0 leaves one unchanged).
    pub async fn set_timeouts(&mut self, t: &Timeouts) -> Result<(), Error> {
        self.simple(
            IpvsMessage::new(IpvsCmd::SetConfig, t.to_attrs()),
            format!(
                "set timeouts tcp {} tcpfin {} udp {}",
                t.tcp, t.tcp_fin, t.udp
            ),
        )
        .await
    }

    /// Version and connection table size.
    pub async fn info(&mut self) -> Result<Info, Error> {
        let msgs = self
            .query_named(IpvsMessage::new(IpvsCmd::GetInfo, vec![]), false, || {
                "get info".into()
            })
            .await?;
        let m = msgs
            .first()
            .ok_or_else(|| Error::Decode("no GET_INFO reply".into()))?;
        Ok(Info::from_attrs(&m.attrs)?)
    }

    /// The running sync daemons.
    pub async fn daemons(&mut self) -> Result<Vec<SyncDaemon>, Error> {
        let msgs = self
            .query_named(IpvsMessage::new(IpvsCmd::GetDaemon, vec![]), true, || {
                "list sync daemons".into()
            })
            .await?;
        let mut out = Vec::new();
        for m in msgs {
            for a in m.attrs {
                if let CmdAttr::Daemon(d) = a {
                    out.push(SyncDaemon::from_attrs(&d)?);
                }
            }
        }
        Ok(out)
    }

    /// Start a sync daemon.
    pub async fn start_daemon(&mut self, d: &SyncDaemon) -> Result<(), Error> {
        let what = format!(
            "start sync daemon {:?} on {} (syncid {})",
            d.role, d.ifname, d.sync_id
        );
        self.simple(
            IpvsMessage::new(IpvsCmd::NewDaemon, vec![CmdAttr::Daemon(d.to_attrs())]),
            what,
        )
        .await
    }

    /// Stop the sync daemon of a role.
    pub async fn stop_daemon(&mut self, role: DaemonRole) -> Result<(), Error> {
        self.simple(
            IpvsMessage::new(
                IpvsCmd::DelDaemon,
                vec![CmdAttr::Daemon(vec![crate::wire::DaemonAttr::State(
                    role.number(),
                )])],
            ),
            format!("stop sync daemon {role:?}"),
        )
        .await
    }
}

/// Build the message that deletes a destination (for [`Client::execute_raw`] users).
pub fn del_dest_message(key: &ServiceKey, addr: std::net::SocketAddr) -> IpvsMessage {
    dest_msg(IpvsCmd::DelDest, key, crate::model::dest_del_attrs(addr))
}
