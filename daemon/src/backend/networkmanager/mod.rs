// SPDX-License-Identifier: Apache-2.0
//! The NetworkManager backend: profiles over D-Bus, each interface inside its own
//! NM checkpoint (CheckpointCreate → change → verify → CheckpointDestroy, or
//! CheckpointRollback), which NM also rolls back by itself if multinicd dies.
//!
//! NetworkManager does not name links, so beside the profile multinic writes the
//! same udev `.link` as on networkd (`/etc/systemd/network/10-multinic-<mac>.link`):
//! udev then gives the NIC its `multinicN` name at boot and when it is attached
//! again, before NetworkManager activates the profile, and the daemon has nothing
//! to rename. The file is put back as it was on rollback.

pub mod conf;
pub mod dbus;
pub mod settings;

use std::collections::HashMap;

use futures::future::join_all;
use multinic_api::MacAddr;
use zbus::proxy::CacheProperties;
use zbus::zvariant::{ObjectPath, OwnedObjectPath};

use self::dbus::*;
use super::dbus_error::DbusError;
use super::networkd::{files, remove_if_present, write_atomic};
use super::{Backend, BackendError, Managed, Readiness};
use crate::observe::{Generated, Handle};
use crate::plan::vlan::OwnedVlan;
use crate::plan::{InterfacePlan, LinkRef, Owned};

/// A NetworkManager reached over the system bus.
pub struct NetworkManagerBackend {
    conn: zbus::Connection,
    nm: NetworkManagerProxy<'static>,
    settings: NmSettingsProxy<'static>,
    rollback_timeout_secs: u32,
}

/// One interface's checkpoint, and its `.link` file as it was before.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    /// NetworkManager's unique bus name when the checkpoint was made: D-Bus paths
    /// (checkpoints, profiles) are numbered afresh by each NM process, so after a
    /// restart the path may name someone else's.
    #[serde(default)]
    owner: Option<String>,
    path: OwnedObjectPath,
    device: OwnedObjectPath,
    iface: String,
    mac: MacAddr,
    link_before: Option<Vec<u8>>,
    /// The profile the transaction created: deleted on rollback. (Records written
    /// before this field kept it beside the transaction; see [`super::journal`].)
    #[serde(default)]
    created: Option<OwnedObjectPath>,
    /// The VLAN profiles the transaction created, by VLAN id: deleted on rollback.
    #[serde(default)]
    vlans_created: Vec<(u16, OwnedObjectPath)>,
}

/// Where the `.link` of a MAC lives.
fn link_path(mac: MacAddr) -> std::path::PathBuf {
    std::path::Path::new(files::DIR).join(files::file_names(mac).1)
}

impl NetworkManagerBackend {
    /// Use a bus connection on which NetworkManager was found. `rollback_timeout_secs`
    /// is how long NM waits before rolling a checkpoint back on its own (when
    /// multinicd dies mid-change).
    pub async fn on(conn: zbus::Connection, rollback_timeout_secs: u32) -> Result<Self, BackendError> {
        let nm = NetworkManagerProxy::builder(&conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .map_err(BackendError::Bus)?;
        let settings = NmSettingsProxy::builder(&conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .map_err(BackendError::Bus)?;
        Ok(NetworkManagerBackend { conn, nm, settings, rollback_timeout_secs })
    }

    /// NetworkManager's unique name on the bus now.
    async fn owner(&self) -> Option<String> {
        let bus = zbus::fdo::DBusProxy::new(&self.conn).await.ok()?;
        let name = zbus::names::BusName::try_from(NM_BUS_NAME).ok()?;
        bus.get_name_owner(name).await.ok().map(|o| o.to_string())
    }

    async fn connection(&self, path: &str) -> zbus::Result<NmConnectionProxy<'static>> {
        NmConnectionProxy::builder(&self.conn)
            .path(path.to_string())?
            .cache_properties(CacheProperties::No)
            .build()
            .await
    }

    async fn active(&self, path: &OwnedObjectPath) -> zbus::Result<NmActiveConnectionProxy<'static>> {
        NmActiveConnectionProxy::builder(&self.conn)
            .path(path.clone())?
            .cache_properties(CacheProperties::No)
            .build()
            .await
    }

    async fn device(&self, path: &OwnedObjectPath) -> zbus::Result<NmDeviceProxy<'static>> {
        NmDeviceProxy::builder(&self.conn).path(path.clone())?.cache_properties(CacheProperties::No).build().await
    }

    /// Delete a profile; one already gone is what was wanted.
    async fn delete(&self, path: &str, iface: &str, mac: MacAddr) -> Result<(), BackendError> {
        let c = self.connection(path).await.map_err(self.call("Connection", iface, mac))?;
        match c.delete().await {
            Ok(()) => Ok(()),
            Err(e) if DbusError::is_absent(&e) => Ok(()),
            Err(e) => Err(self.call("Delete", iface, mac)(e)),
        }
    }

    /// The active connections: (path, its profile, its state). One that vanishes
    /// while it is read is left out.
    async fn actives(&self) -> Result<Vec<(OwnedObjectPath, OwnedObjectPath, u32)>, BackendError> {
        let read = |source| BackendError::Read { op: "reading active connections", source };
        let paths = self.nm.active_connections().await.map_err(read)?;
        let found = join_all(paths.into_iter().map(|path| async move {
            let ac = self.active(&path).await?;
            let (profile, state) = futures::try_join!(ac.connection(), ac.state())?;
            Ok::<_, zbus::Error>((path, profile, state))
        }))
        .await;
        Ok(found.into_iter().flatten().collect())
    }

    /// NetworkManager's own generated profiles among the active connections that are
    /// not multinic's (their `Flags`), with the devices they are on.
    async fn generated(&self, candidates: &[(OwnedObjectPath, OwnedObjectPath)]) -> Vec<Generated> {
        let found = join_all(candidates.iter().map(|(ac_path, profile)| async move {
            let flags = self.connection(profile.as_str()).await?.flags().await?;
            if flags & NM_SETTINGS_CONNECTION_FLAG_NM_GENERATED == 0 {
                return Ok(Vec::new());
            }
            let ac = self.active(ac_path).await?;
            let (id, devices) = futures::try_join!(ac.id(), ac.devices())?;
            let mut out = Vec::new();
            for d in devices {
                let iface = self.device(&d).await?.interface().await?;
                out.push(Generated { iface, id: id.clone(), handle: Handle::NmProfile(profile.as_str().to_string()) });
            }
            Ok::<_, zbus::Error>(out)
        }))
        .await;
        // An active connection may vanish while it is read: skip it.
        found.into_iter().flatten().flatten().collect()
    }

    /// The NIC's VLAN profiles: written (each all multinic's, so replaced whole) and
    /// activated on the NIC's device, those no longer in the spec deleted.
    async fn configure_vlans(&self, txn: &mut Checkpoint, plan: &InterfacePlan) -> Result<(), BackendError> {
        let root = ObjectPath::from_static_str_unchecked("/");
        for v in plan.vlans.iter().filter(|v| v.step.applies()) {
            let name = v.name.as_deref().unwrap_or_default();
            let call = |op| self.call(op, name, plan.mac);
            let ours = settings::build_vlan(plan.mac, name, &v.desired, &v.config_hash, v.source);
            let existing = match (&v.owned, txn.vlans_created.iter().find(|(id, _)| *id == v.id)) {
                (Some(owned), _) => Some(self.profile(&owned.handle, name, plan.mac)?.to_string()),
                (None, created) => created.map(|(_, p)| p.as_str().to_string()),
            };
            let profile: OwnedObjectPath = match existing {
                Some(path) => {
                    let c = self.connection(&path).await.map_err(call("Connection"))?;
                    if v.step != crate::plan::vlan::VlanStep::Nothing {
                        c.update2(ours, NM_SETTINGS_UPDATE2_FLAG_TO_DISK, HashMap::new())
                            .await
                            .map_err(call("Update2"))?;
                    }
                    ObjectPath::try_from(path.as_str()).map_err(|e| call("Connection")(e.into()))?.into()
                }
                None => {
                    let (path, _) = self
                        .settings
                        .add_connection2(ours, NM_SETTINGS_ADD_CONNECTION2_FLAG_TO_DISK, HashMap::new())
                        .await
                        .map_err(call("AddConnection2"))?;
                    txn.vlans_created.push((v.id, path.clone()));
                    path
                }
            };
            self.nm.activate_connection(&profile.as_ref(), &root, &root).await.map_err(call("ActivateConnection"))?;
        }
        for o in &plan.vlan_removals {
            self.remove_vlan(o).await?;
        }
        Ok(())
    }

    fn call<'a>(&self, op: &'static str, iface: &'a str, mac: MacAddr) -> impl Fn(zbus::Error) -> BackendError + 'a {
        move |source| BackendError::Call { op, iface: iface.to_string(), mac, source }
    }

    /// The profile a handle names. networkd's handles name files, never profiles.
    #[allow(clippy::result_large_err)] // BackendError, as every backend call returns
    fn profile<'h>(&self, handle: &'h Handle, iface: &str, mac: MacAddr) -> Result<&'h str, BackendError> {
        match handle {
            Handle::NmProfile(path) => Ok(path),
            Handle::NetworkdFile(file) => {
                let why = format!("{} is a systemd-networkd file, not a NetworkManager profile", file.display());
                Err(self.call("Connection", iface, mac)(zbus::Error::Failure(why)))
            }
        }
    }

    /// Pin the name for udev. A file under multinic's name that multinic did not
    /// write is someone else's and is never overwritten.
    #[allow(clippy::result_large_err)] // BackendError, as every backend call returns
    fn write_link_file(
        &self,
        txn: &Checkpoint,
        plan: &InterfacePlan,
        name: &str,
        original_name: Option<&str>,
    ) -> Result<(), BackendError> {
        let file = |op| move |source| BackendError::File { op, iface: name.to_string(), mac: plan.mac, source };
        if let Some(old) = &txn.link_before
            && !old.starts_with(files::HEADER.as_bytes())
        {
            let e = std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists and is not multinic's; move it away", link_path(plan.mac).display()),
            );
            return Err(file("write .link")(e));
        }
        let meta = files::Meta::of(plan, name, original_name);
        let text = files::link_unit(plan.mac, name, !plan.desired.vlans.is_empty())
            .render(&meta)
            .map_err(|e| file("render .link")(std::io::Error::other(e)))?;
        if txn.link_before.as_deref() == Some(text.as_bytes()) {
            return Ok(());
        }
        write_atomic(&link_path(plan.mac), text.as_bytes()).map_err(file("write .link"))
    }
}

impl Backend for NetworkManagerBackend {
    type Txn = Checkpoint;

    fn name(&self) -> &'static str {
        "networkmanager"
    }

    async fn checkup(&self) -> super::Checkup {
        let setting = conf::no_auto_default(std::path::Path::new("/"));
        super::Checkup {
            version: self.nm.version().await.ok(),
            settings: Ok(conf::auto_default_note(setting.as_deref())),
        }
    }

    async fn reconnect(&self) -> Result<Self, BackendError> {
        let conn = super::select::system_bus().await?;
        super::select::require(&conn, NM_BUS_NAME, "NetworkManager").await?;
        Self::on(conn, self.rollback_timeout_secs).await
    }

    /// One read of the profiles and one of the active connections serve both: the
    /// `Flags` of a profile are read only for active ones that are not multinic's.
    async fn read(&self) -> Result<Managed, BackendError> {
        let list = async {
            self.settings
                .list_connections()
                .await
                .map_err(|source| BackendError::Read { op: "listing NM profiles", source })
        };
        let (paths, actives) = futures::try_join!(list, self.actives())?;
        let profiles = join_all(paths.iter().map(|p| async move {
            let c = self.connection(p.as_str()).await?;
            Ok::<_, zbus::Error>((p.as_str().to_string(), c.get_settings().await?))
        }))
        .await;
        let (mut owned, mut vlans) = (Vec::new(), Vec::new());
        for profile in profiles {
            // A profile deleted between list and read is simply not there.
            let Ok((path, s)) = profile else { continue };
            if let Some(mut o) = settings::owned_from(&s, &path) {
                o.active = actives
                    .iter()
                    .any(|(_, p, state)| p.as_str() == path && *state == NM_ACTIVE_CONNECTION_STATE_ACTIVATED);
                owned.push(o);
            } else if let Some(v) = settings::owned_vlan_from(&s, &path) {
                vlans.push(v);
            }
        }
        owned.sort_by(|a, b| a.name.cmp(&b.name));
        vlans.sort_by(|a, b| a.name.cmp(&b.name));
        let others: Vec<(OwnedObjectPath, OwnedObjectPath)> = actives
            .into_iter()
            .filter(|(_, p, _)| !owned.iter().any(|o| o.handle == Handle::NmProfile(p.as_str().to_string())))
            .map(|(ac, p, _)| (ac, p))
            .collect();
        let generated = self.generated(&others).await;
        Ok(Managed { owned, generated, vlans })
    }

    /// The checkpoint covers the NIC's device and its VLANs' devices, so that a
    /// rollback brings their profiles back as they were (also one deleted).
    async fn begin(&self, link: &LinkRef, mac: MacAddr, vlans: &[LinkRef]) -> Result<Checkpoint, BackendError> {
        let device = self.nm.get_device_by_ip_iface(&link.name).await.map_err(self.call(
            "GetDeviceByIpIface",
            &link.name,
            mac,
        ))?;
        let mut devices = vec![device.clone()];
        for v in vlans {
            // A VLAN link NetworkManager does not know has no profile to restore.
            if let Ok(d) = self.nm.get_device_by_ip_iface(&v.name).await {
                devices.push(d);
            }
        }
        let paths: Vec<ObjectPath<'_>> = devices.iter().map(|d| d.as_ref()).collect();
        let refs: Vec<&ObjectPath<'_>> = paths.iter().collect();
        let path = self
            .nm
            .checkpoint_create(&refs, self.rollback_timeout_secs, NM_CHECKPOINT_CREATE_FLAG_NONE)
            .await
            .map_err(self.call("CheckpointCreate", &link.name, mac))?;
        let link_before = std::fs::read(link_path(mac)).ok();
        Ok(Checkpoint {
            owner: self.owner().await,
            path,
            device,
            iface: link.name.clone(),
            mac,
            link_before,
            created: None,
            vlans_created: Vec::new(),
        })
    }

    async fn release(&self, txn: &Checkpoint, name: &str, mac: MacAddr) -> Result<(), BackendError> {
        let device = self.device(&txn.device).await.map_err(self.call("Device", name, mac))?;
        let active = device.active_connection().await.map_err(self.call("Device.ActiveConnection", name, mac))?;
        if active.as_str() != "/" {
            self.nm.deactivate_connection(&active.as_ref()).await.map_err(self.call(
                "DeactivateConnection",
                name,
                mac,
            ))?;
        }
        Ok(())
    }

    /// Deleted rather than left inactive: NetworkManager then records the device in
    /// `/var/lib/NetworkManager/no-auto-default.state`, as it does for every deleted
    /// auto-default profile, and never generates one for this NIC again — also not
    /// after multinic's own profile is removed, when a DHCP default route through a
    /// secondary NIC would be the last thing the node needs. NM records it by its
    /// permanent MAC; a NIC without one (a veth) by its current name, `multinicN`.
    async fn retire(&self, generated: &Generated, mac: MacAddr) -> Result<(), BackendError> {
        let profile = self.profile(&generated.handle, &generated.iface, mac)?;
        self.delete(profile, &generated.iface, mac).await
    }

    async fn configure(
        &self,
        txn: &mut Checkpoint,
        plan: &InterfacePlan,
        name: &str,
        original_name: Option<&str>,
    ) -> Result<(), BackendError> {
        let call = |op| self.call(op, name, plan.mac);
        let ours = settings::build(&settings::Profile {
            desired: &plan.desired,
            name,
            original_name,
            config_hash: &plan.config_hash,
            source: plan.source,
        });
        // Tried again after a transient error, the transaction updates the profile
        // it created rather than adding a second one.
        let existing = match (&plan.owned, &txn.created) {
            (Some(owned), _) => Some(self.profile(&owned.handle, name, plan.mac)?.to_string()),
            (None, created) => created.as_ref().map(|p| p.as_str().to_string()),
        };
        let profile: OwnedObjectPath = match existing.as_deref() {
            Some(path) => {
                let c = self.connection(path).await.map_err(call("Connection"))?;
                let existing = c.get_settings().await.map_err(call("GetSettings"))?;
                let merged = settings::merge(ours, &existing);
                c.update2(
                    merged,
                    NM_SETTINGS_UPDATE2_FLAG_TO_DISK | NM_SETTINGS_UPDATE2_FLAG_BLOCK_AUTOCONNECT,
                    HashMap::new(),
                )
                .await
                .map_err(call("Update2"))?;
                ObjectPath::try_from(path).map_err(|e| call("Connection")(e.into()))?.into()
            }
            None => {
                let flags =
                    NM_SETTINGS_ADD_CONNECTION2_FLAG_TO_DISK | NM_SETTINGS_ADD_CONNECTION2_FLAG_BLOCK_AUTOCONNECT;
                let (path, _) =
                    self.settings.add_connection2(ours, flags, HashMap::new()).await.map_err(call("AddConnection2"))?;
                txn.created = Some(path.clone());
                path
            }
        };
        self.write_link_file(txn, plan, name, original_name)?;
        let root = ObjectPath::from_static_str_unchecked("/");
        self.nm
            .activate_connection(&profile.as_ref(), &txn.device.as_ref(), &root)
            .await
            .map_err(call("ActivateConnection"))?;
        self.configure_vlans(txn, plan).await
    }

    async fn confirm(&self, txn: &Checkpoint) -> Result<Readiness, BackendError> {
        let call = self.call("Device.State", &txn.iface, txn.mac);
        let device = self.device(&txn.device).await.map_err(&call)?;
        Ok(match device.state().await.map_err(&call)? {
            NM_DEVICE_STATE_ACTIVATED => Readiness::Configured,
            state => Readiness::Waiting(format!("NetworkManager device state is {state}, not activated (100)")),
        })
    }

    async fn commit(&self, txn: Checkpoint) -> Result<(), BackendError> {
        self.nm.checkpoint_destroy(&txn.path.as_ref()).await.map_err(self.call(
            "CheckpointDestroy",
            &txn.iface,
            txn.mac,
        ))
    }

    async fn rollback(&self, txn: Checkpoint) -> Result<(), BackendError> {
        let same_nm = txn.owner.is_some() && txn.owner == self.owner().await;
        let result = if same_nm {
            self.nm.checkpoint_rollback(&txn.path.as_ref()).await.map_err(self.call(
                "CheckpointRollback",
                &txn.iface,
                txn.mac,
            ))
        } else {
            // A restarted NM dropped the checkpoint, and its path may be another's now.
            tracing::warn!(interface = %txn.iface, mac = %txn.mac, "NetworkManager restarted since the transaction began: its checkpoint is gone");
            Ok(HashMap::new())
        };
        let path = link_path(txn.mac);
        let link = match &txn.link_before {
            _ if std::fs::read(&path).ok() == txn.link_before => Ok(()),
            Some(old) => write_atomic(&path, old),
            None => remove_if_present(&path),
        };
        let link = link.map_err(|source| BackendError::File {
            op: "restore .link",
            iface: txn.iface.clone(),
            mac: txn.mac,
            source,
        });
        // Without DELETE_NEW_CONNECTIONS (which would delete every profile created
        // since, including other interfaces' ones) a created profile is ours to delete.
        // Only multinic's profile for this MAC: the path alone may name another
        // profile after NM restarted.
        if let Some(path) = &txn.created
            && let Ok(c) = self.connection(path.as_str()).await
            && c.get_settings()
                .await
                .is_ok_and(|s| settings::owned_from(&s, path.as_str()).is_some_and(|o| o.mac == txn.mac))
        {
            c.delete().await.map_err(self.call("Delete", &txn.iface, txn.mac))?;
        }
        for (_, path) in &txn.vlans_created {
            if let Ok(c) = self.connection(path.as_str()).await
                && c.get_settings()
                    .await
                    .is_ok_and(|s| settings::owned_vlan_from(&s, path.as_str()).is_some_and(|o| o.parent == txn.mac))
            {
                c.delete().await.map_err(self.call("Delete", &txn.iface, txn.mac))?;
            }
        }
        let failed: Vec<String> =
            result?.into_iter().filter(|(_, code)| *code != 0).map(|(dev, code)| format!("{dev}: {code}")).collect();
        if !failed.is_empty() {
            return Err(self.call("CheckpointRollback", &txn.iface, txn.mac)(zbus::Error::Failure(failed.join(", "))));
        }
        link
    }

    async fn remove(&self, owned: &Owned) -> Result<(), BackendError> {
        let legacy = std::path::Path::new(files::DIR).join(files::legacy_file_names(owned.mac).1);
        for link in [link_path(owned.mac), legacy] {
            if std::fs::read(&link).is_ok_and(|t| t.starts_with(files::HEADER.as_bytes())) {
                remove_if_present(&link).map_err(|source| BackendError::File {
                    op: "delete .link",
                    iface: owned.name.clone(),
                    mac: owned.mac,
                    source,
                })?;
            }
        }
        let profile = self.profile(&owned.handle, &owned.name, owned.mac)?;
        self.delete(profile, &owned.name, owned.mac).await
    }

    async fn remove_vlan(&self, owned: &OwnedVlan) -> Result<(), BackendError> {
        let profile = self.profile(&owned.handle, &owned.name, owned.parent)?;
        self.delete(profile, &owned.name, owned.parent).await
    }
}
