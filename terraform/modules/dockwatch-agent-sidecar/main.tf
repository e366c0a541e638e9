# The Dockwatch agent as a sidecar container for any Fargate (or EC2) task definition. Fargate has no
# Docker socket: ECS sets ECS_CONTAINER_METADATA_URI_V4 in every container and the agent reads the
# task's containers and their Docker stats from it. The sidecar is not essential, so a failing agent
# never stops the workload.
#
#   module "dockwatch_agent" { source = ".../modules/dockwatch-agent-sidecar" ... }
#   container_definitions = jsonencode([local.app, module.dockwatch_agent.container_definition])
locals {
  environment = concat(
    [
      { name = "NODE_ENV", value = "production" },
      { name = "SERVER_ADDR", value = var.server_addr },
      { name = "SERVER_TLS", value = tostring(var.server_tls) },
      { name = "COLLECT_INTERVAL", value = var.collect_interval },
      { name = "AGENT_STATUS_FILE", value = "/tmp/dockwatch-agent.status.json" },
    ],
    var.agent_id == "" ? [] : [{ name = "AGENT_ID", value = var.agent_id }],
  )

  container_definition = {
    name                   = var.name
    image                  = var.image
    essential              = false
    cpu                    = var.cpu
    memory                 = var.memory
    user                   = "10001:10001"
    readonlyRootFilesystem = false # the agent writes only AGENT_STATUS_FILE under /tmp; a task volume is not needed
    environment            = local.environment
    secrets = [
      { name = "AGENT_TOKEN", valueFrom = var.agent_token_secret_arn },
    ]
    healthCheck = {
      command     = ["CMD", "node", "-e", "try{const s=JSON.parse(require('fs').readFileSync(process.env.AGENT_STATUS_FILE,'utf8'));process.exit(Date.now()-s.ts<60000?0:1)}catch{process.exit(1)}"]
      interval    = 30
      timeout     = 5
      retries     = 3
      startPeriod = 30
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = var.log_group_name
        awslogs-region        = var.aws_region
        awslogs-stream-prefix = var.name
      }
    }
  }
}
