-- Health of an ODMJob (odm-operator.io): one OpenDroneMap run on AWS ECS, written by odm-operator.
-- It reads the flat status the operator writes: phase, reason, message, progress, observedGeneration, and the
-- SpecChangeIgnored condition (a spec change the operator refused: the spec is immutable except spec.suspend).
-- Only Lua's base library is used, as argocd-cm scripts run without the open libraries.
local hs = {}
local status = obj.status
if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for odm-operator to accept the job"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  if status.conditions ~= nil then
    for _, condition in ipairs(status.conditions) do
      if condition.type == "SpecChangeIgnored" and condition.status == "True" then
        hs.status = "Degraded"
        hs.message = "Spec change refused: " .. (condition.message or "")
        return hs
      end
    end
  end
  hs.status = "Progressing"
  hs.message = "Waiting for odm-operator to observe generation " .. generation
  return hs
end

local message = status.message or ""
local phase = status.phase
if phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = message
elseif phase == "Failed" or phase == "Cancelled" then
  hs.status = "Degraded"
  hs.message = (status.reason or phase) .. ": " .. message
elseif phase == "Suspended" then
  hs.status = "Suspended"
  hs.message = message
else
  -- Pending, Starting, Running, or a phase newer than this script.
  hs.status = "Progressing"
  hs.message = message
  if phase == "Running" and status.progress ~= nil and status.progress.percent ~= nil then
    hs.message = message .. " (" .. status.progress.percent .. "%, " .. (status.progress.stage or "") .. ")"
  end
end
return hs
