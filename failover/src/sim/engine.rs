//! The simulator's engine: what happens when a packet copy arrives, a stalled node runs
//! again, an answer comes back, and how a node's outputs are moved (adverts onto the links,
//! actions checked and answered, everything into the trace).

use std::cmp::Reverse;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ha_vrrp_proto::sim::NodeId;
use ha_vrrp_proto::wire::{self, Family};

use super::{
    Due, HeldPacket, Input, LossCause, MAX_STEPS_PER_INSTANT, Node, Outcome, Packet, Scheduled,
    Sim, TraceEntry, TraceKind,
};
use crate::core::{Director, DirectorAction, DirectorError, InstanceId, PacketMeta, StepOp};

impl Sim {
    pub(super) fn advance(&mut self, t: Instant) {
        if t > self.now {
            self.now = t;
            self.steps_at_now = 0;
        } else {
            self.steps_at_now += 1;
            if self.steps_at_now > MAX_STEPS_PER_INSTANT {
                panic!(
                    "livelock: more than {MAX_STEPS_PER_INSTANT} steps at {:?}\n{}",
                    self.elapsed(),
                    self.trace_string()
                );
            }
        }
    }

    pub(super) fn record(&mut self, node: usize, kind: TraceKind) {
        self.trace.push(TraceEntry {
            at: self.now - self.base,
            node: NodeId(node),
            kind,
        });
    }

    fn violation(&self, node: usize, what: String) -> ! {
        panic!(
            "{} ({}) at {:?}: {what}\ntrace:\n{}",
            NodeId(node),
            self.nodes[node].name,
            self.elapsed(),
            self.trace_string()
        );
    }

    fn schedule(&mut self, after: Duration, due: Due) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled {
            at: self.now + after,
            seq: self.seq,
            due,
        }));
    }

    /// Gives an input now, or after the stall.
    pub(super) fn input(&mut self, i: usize, input: Input) -> Result<(), DirectorError> {
        let n = &mut self.nodes[i];
        if n.director.is_none() {
            return Ok(());
        }
        if n.stalled_until.is_some() {
            n.deferred.push(input);
            return Ok(());
        }
        self.give(i, input)
    }

    /// [`Sim::input`], an error going to the trace.
    pub(super) fn input_or_trace(&mut self, i: usize, input: Input) {
        if let Err(e) = self.input(i, input) {
            self.record(i, TraceKind::InputError(e));
        }
    }

    fn give(&mut self, i: usize, input: Input) -> Result<(), DirectorError> {
        let now = self.now;
        let n = &mut self.nodes[i];
        let Some(d) = n.director.as_mut() else {
            return Ok(());
        };
        let t = n.late.clock(now);
        let res = match input {
            Input::Carrier { interface, up } => {
                d.handle_link(t, &interface, up);
                Ok(())
            }
            Input::Track { tracker, result } => d.handle_track_result(t, tracker, result),
            Input::Fence {
                instance,
                attempt,
                ok,
            } => d.handle_fence_result(t, instance, attempt, ok),
            Input::Step {
                instance,
                token,
                ok,
            } => {
                if n.inflight_steps.get(&instance) == Some(&token) {
                    n.inflight_steps.remove(&instance);
                }
                d.handle_step_result(t, instance, token, ok)
            }
            Input::Shutdown => {
                d.shutdown(t);
                Ok(())
            }
        };
        self.drain(i);
        res
    }

    pub(super) fn process(&mut self, due: Due) {
        match due {
            Due::Packet(p) => self.deliver(p),
            Due::Fence {
                node,
                epoch,
                instance,
                attempt,
                ok,
            } => {
                if self.nodes[node].epoch != epoch || self.nodes[node].director.is_none() {
                    self.record(node, TraceKind::StaleAnswer);
                    return;
                }
                self.record(
                    node,
                    TraceKind::FenceAnswer {
                        instance,
                        attempt,
                        ok,
                    },
                );
                if ok && self.nodes[node].fence.power_off {
                    self.power_off_peers(node, instance);
                }
                self.input_or_trace(
                    node,
                    Input::Fence {
                        instance,
                        attempt,
                        ok,
                    },
                );
            }
            Due::Step {
                node,
                epoch,
                instance,
                index,
                op,
                token,
                ok,
            } => {
                if self.nodes[node].epoch != epoch || self.nodes[node].director.is_none() {
                    self.record(node, TraceKind::StaleAnswer);
                    return;
                }
                // The resource changed when its script ended, whatever the director does
                // with the answer.
                let r = self.nodes[node].resources.entry(instance).or_default();
                if r.len() <= index {
                    r.resize(index + 1, false);
                }
                r[index] = op == StepOp::Start && ok;
                self.record(
                    node,
                    TraceKind::StepAnswer {
                        instance,
                        token,
                        ok,
                    },
                );
                self.input_or_trace(
                    node,
                    Input::Step {
                        instance,
                        token,
                        ok,
                    },
                );
            }
        }
    }

    /// STONITH: every other node running an instance of the same VRID and family on the
    /// fencing instance's link is powered off.
    fn power_off_peers(&mut self, i: usize, instance: InstanceId) {
        let Some(x) = self.nodes[i].insts.get(instance.0 as usize).cloned() else {
            return;
        };
        let Some(link) = self.nodes[i]
            .ifaces
            .iter()
            .find(|f| f.name == x.interface)
            .map(|f| f.link)
        else {
            return;
        };
        for j in 0..self.nodes.len() {
            let n = &self.nodes[j];
            let peer = j != i
                && n.director.is_some()
                && n.insts.iter().any(|y| {
                    y.vrid == x.vrid && y.family == x.family && n.on_link(&y.interface, link)
                });
            if peer {
                self.nodes[j].kill();
                self.record(j, TraceKind::PoweredOff { by: NodeId(i) });
            }
        }
    }

    pub(super) fn wake(&mut self, i: usize) {
        let now = self.now;
        let n = &mut self.nodes[i];
        n.stalled_until = None;
        let held = std::mem::take(&mut n.held_packets);
        let inputs = std::mem::take(&mut n.deferred);
        self.record(
            i,
            TraceKind::Wake {
                packets: held.len(),
                inputs: inputs.len(),
            },
        );
        for h in held {
            let Node {
                director,
                late,
                ifaces,
                ..
            } = &mut self.nodes[i];
            let Some(d) = director.as_mut() else {
                return;
            };
            let meta = PacketMeta {
                interface: &ifaces[h.iface].name,
                family: Family::of(h.src),
                src: h.src,
                dst: h.dst,
                ttl: wire::TTL,
                received_at: h.received_at,
            };
            match d.validate_packet(&meta, &h.bytes) {
                Ok(input) => late.queue(h.received_at, input),
                Err(reason) => {
                    let interface = ifaces[h.iface].name.clone();
                    self.record(
                        i,
                        TraceKind::Delivered {
                            from: NodeId(h.from),
                            interface,
                            result: Err(reason),
                        },
                    );
                }
            }
        }
        // Link losses reported during the stall come first, at the last time the node was
        // given: a link that is down now carried nothing after it went down, and a backup must
        // not take over through it before it learns so (the runtime does the same with the
        // kernel's link notifications).
        let (downs, inputs): (Vec<Input>, Vec<Input>) = inputs
            .into_iter()
            .partition(|i| matches!(i, Input::Carrier { up: false, .. }));
        let Node { director, late, .. } = &mut self.nodes[i];
        if let Some(d) = director.as_mut() {
            for down in downs {
                if let Input::Carrier { interface, .. } = down {
                    d.handle_link(late.last(), &interface, false);
                }
            }
            late.drive(d, now);
        }
        self.drain(i);
        for input in inputs {
            self.input_or_trace(i, input);
        }
    }

    fn deliver(&mut self, p: Packet) {
        let (to, from) = (&self.nodes[p.to], &self.nodes[p.from]);
        let cause = if to.director.is_none() {
            Some(LossCause::Crashed)
        } else if !to.ifaces[p.to_iface].up {
            Some(LossCause::CarrierDown)
        } else if to.ifaces[p.to_iface].group != from.ifaces[p.from_iface].group {
            Some(LossCause::Partition)
        } else {
            None
        };
        if let Some(cause) = cause {
            if self.trace_packets {
                self.record(
                    p.to,
                    TraceKind::Lost {
                        from: NodeId(p.from),
                        cause,
                    },
                );
            }
            return;
        }
        let now = self.now;
        let n = &mut self.nodes[p.to];
        if n.stalled_until.is_some() {
            let interface = n.ifaces[p.to_iface].name.clone();
            n.held_packets.push(HeldPacket {
                received_at: now,
                from: p.from,
                iface: p.to_iface,
                src: p.src,
                dst: p.dst,
                bytes: p.bytes,
            });
            if self.trace_packets {
                self.record(
                    p.to,
                    TraceKind::Held {
                        from: NodeId(p.from),
                        interface,
                    },
                );
            }
            return;
        }
        let Node {
            director,
            late,
            ifaces,
            ..
        } = n;
        let d = director.as_mut().expect("checked above");
        let meta = PacketMeta {
            interface: &ifaces[p.to_iface].name,
            family: Family::of(p.src),
            src: p.src,
            dst: p.dst,
            ttl: wire::TTL,
            received_at: now,
        };
        let result = d.handle_packet(late.clock(now), &meta, &p.bytes);
        if self.trace_packets || matches!(result, Err(r) if r.is_wire()) {
            let interface = self.nodes[p.to].ifaces[p.to_iface].name.clone();
            self.record(
                p.to,
                TraceKind::Delivered {
                    from: NodeId(p.from),
                    interface,
                    result,
                },
            );
        }
        self.drain(p.to);
    }

    /// Moves a node's outputs: adverts onto the links, events into the trace, actions into
    /// the VIP record, the fence and step answers, and the trace.
    pub(super) fn drain(&mut self, i: usize) {
        let mut buf = std::mem::take(&mut self.buf);
        while let Some(tx) = self.nodes[i]
            .director
            .as_mut()
            .and_then(|d| d.poll_transmit(&mut buf))
        {
            self.send(i, tx.instance, tx.src, tx.dst, &buf[..tx.len]);
        }
        self.buf = buf;
        while let Some(e) = self.nodes[i]
            .director
            .as_mut()
            .and_then(Director::poll_event)
        {
            self.record(i, TraceKind::Event(e));
        }
        while let Some(a) = self.nodes[i]
            .director
            .as_mut()
            .and_then(Director::poll_action)
        {
            self.act(i, a);
        }
    }

    fn act(&mut self, i: usize, a: DirectorAction) {
        self.record(i, TraceKind::Action(a.clone()));
        match a {
            DirectorAction::AddVips { instance, vips } => {
                if self.nodes[i].vips.insert(instance, vips).is_some() {
                    self.violation(
                        i,
                        format!("AddVips for {instance:?}, which already holds its addresses"),
                    );
                }
            }
            DirectorAction::RemoveVips { instance, vips } => {
                match self.nodes[i].vips.remove(&instance) {
                    None => self.violation(
                        i,
                        format!("RemoveVips for {instance:?}, which holds no addresses"),
                    ),
                    Some(held) if held != vips => self.violation(
                        i,
                        format!("RemoveVips for {instance:?}: {vips:?}, but it added {held:?}"),
                    ),
                    Some(_) => {}
                }
            }
            DirectorAction::Fence { instance, attempt } => {
                let epoch = self.nodes[i].epoch;
                let reply = self.nodes[i].fence.reply;
                if reply.outcome != Outcome::Hang {
                    self.schedule(
                        reply.delay,
                        Due::Fence {
                            node: i,
                            epoch,
                            instance,
                            attempt,
                            ok: reply.outcome == Outcome::Succeed,
                        },
                    );
                }
            }
            DirectorAction::RunStep {
                instance,
                index,
                op,
                token,
                ..
            } => {
                let n = &mut self.nodes[i];
                if let Some(old) = n.inflight_steps.insert(instance, token) {
                    self.violation(
                        i,
                        format!("step {token:?} of {instance:?} asked while {old:?} runs"),
                    );
                }
                let reply = n
                    .step_replies
                    .iter()
                    .find(|&&(x, k, o, _)| (x, k, o) == (instance, index, op))
                    .map_or(n.steps, |r| r.3);
                let epoch = n.epoch;
                if reply.outcome != Outcome::Hang {
                    self.schedule(
                        reply.delay,
                        Due::Step {
                            node: i,
                            epoch,
                            instance,
                            index,
                            op,
                            token,
                            ok: reply.outcome == Outcome::Succeed,
                        },
                    );
                }
            }
            DirectorAction::RemoveRoutes { .. }
            | DirectorAction::AddRoutes { .. }
            | DirectorAction::Announce { .. }
            | DirectorAction::AnnounceLowerPriority { .. }
            | DirectorAction::Ipvs { .. }
            | DirectorAction::Notify { .. } => {}
        }
    }

    /// Puts copies of an advert on the sending interface's link.
    fn send(&mut self, i: usize, instance: InstanceId, src: IpAddr, dst: IpAddr, bytes: &[u8]) {
        if self.trace_packets {
            self.record(
                i,
                TraceKind::Sent {
                    instance,
                    dst,
                    priority: bytes.get(2).copied().unwrap_or(0),
                },
            );
        }
        let Some(x) = self.nodes[i].insts.get(instance.0 as usize) else {
            return;
        };
        let Some(fi) = self.nodes[i]
            .ifaces
            .iter()
            .position(|f| f.name == x.interface)
        else {
            self.lost(i, i, LossCause::NoLink);
            return;
        };
        if !self.nodes[i].ifaces[fi].up {
            self.lost(i, i, LossCause::CarrierDown);
            return;
        }
        let link_id = self.nodes[i].ifaces[fi].link;
        let link = self.links[link_id.0];
        let multicast = dst.is_multicast();
        for j in (0..self.nodes.len()).filter(|&j| j != i) {
            for k in 0..self.nodes[j].ifaces.len() {
                let n = &self.nodes[j];
                let f = &n.ifaces[k];
                if f.link != link_id {
                    continue;
                }
                if !multicast
                    && !n
                        .insts
                        .iter()
                        .any(|y| y.interface == f.name && y.primary == dst)
                {
                    continue;
                }
                let copies = if self.rng.chance(link.duplicate) {
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    if self.rng.chance(link.loss) {
                        self.lost(j, i, LossCause::Link);
                        continue;
                    }
                    let delay = link.latency + self.rng.duration_up_to(link.jitter);
                    self.schedule(
                        delay,
                        Due::Packet(Packet {
                            from: i,
                            from_iface: fi,
                            to: j,
                            to_iface: k,
                            src,
                            dst,
                            bytes: bytes.to_vec(),
                        }),
                    );
                }
            }
        }
    }

    fn lost(&mut self, at: usize, from: usize, cause: LossCause) {
        if self.trace_packets {
            self.record(
                at,
                TraceKind::Lost {
                    from: NodeId(from),
                    cause,
                },
            );
        }
    }
}
