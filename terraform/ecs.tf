resource "aws_ecs_cluster" "main" {
  name = local.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

module "agent_sidecar" {
  source = "./modules/dockwatch-agent-sidecar"

  image                  = local.agent_image
  server_addr            = "127.0.0.1:50051" # same task: awsvpc tasks share localhost
  server_tls             = false             # plaintext on the task's loopback; TLS ends at the ALB
  agent_token_secret_arn = aws_secretsmanager_secret.agent_token.arn
  log_group_name         = aws_cloudwatch_log_group.agent.name
  aws_region             = var.aws_region
  agent_id               = "${local.name}-server-task"
}

locals {
  server_container = {
    name                   = "server"
    image                  = local.server_image
    essential              = true
    readonlyRootFilesystem = true
    user                   = "10001:10001"
    portMappings = [
      { name = "http", containerPort = 8080, protocol = "tcp", appProtocol = "http" },
      { name = "grpc", containerPort = 50051, protocol = "tcp", appProtocol = "grpc" },
    ]
    environment = [
      { name = "NODE_ENV", value = "production" },
      { name = "HOST", value = "0.0.0.0" },
      { name = "PORT", value = "8080" },
      { name = "GRPC_PORT", value = "50051" },
      { name = "DATA_DIR", value = "/data" },
      { name = "LOG_LEVEL", value = "info" },
      { name = "ADMIN_USER", value = var.admin_user },
      { name = "INFLUXDB_URL", value = var.influxdb_url },
      { name = "INFLUXDB_ORG", value = var.influxdb_org },
      { name = "INFLUXDB_BUCKET", value = var.influxdb_bucket },
      { name = "REDIS_URL", value = "rediss://${aws_elasticache_replication_group.main.primary_endpoint_address}:6379" },
      { name = "PUBLIC_URL", value = "https://${aws_lb.main.dns_name}" },
    ]
    secrets = [
      { name = "JWT_SECRET", valueFrom = aws_secretsmanager_secret.jwt_secret.arn },
      { name = "AGENT_TOKEN", valueFrom = aws_secretsmanager_secret.agent_token.arn },
      { name = "INFLUXDB_TOKEN", valueFrom = aws_secretsmanager_secret.influxdb_token.arn },
      { name = "ADMIN_PASSWORD", valueFrom = aws_secretsmanager_secret.admin_password.arn },
    ]
    # The root filesystem is read-only: DATA_DIR and /tmp are task volumes.
    mountPoints = [
      { sourceVolume = "data", containerPath = "/data", readOnly = false },
      { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
    ]
    healthCheck = {
      command     = ["CMD", "node", "-e", "fetch('http://127.0.0.1:8080/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
      interval    = 15
      timeout     = 5
      retries     = 3
      startPeriod = 30
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.server.name
        awslogs-region        = var.aws_region
        awslogs-stream-prefix = "server"
      }
    }
  }
}

resource "aws_ecs_task_definition" "server" {
  family                   = "${local.name}-server"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.server_cpu
  memory                   = var.server_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "data"
  }

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode(concat(
    [local.server_container],
    var.monitor_server_task ? [module.agent_sidecar.container_definition] : [],
  ))
}

resource "aws_ecs_service" "server" {
  name                               = "${local.name}-server"
  cluster                            = aws_ecs_cluster.main.id
  task_definition                    = aws_ecs_task_definition.server.arn
  desired_count                      = var.server_desired_count
  launch_type                        = "FARGATE"
  platform_version                   = "1.4.0"
  health_check_grace_period_seconds  = 60
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  enable_execute_command             = false

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.server.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.http.arn
    container_name   = "server"
    container_port   = 8080
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.grpc.arn
    container_name   = "server"
    container_port   = 50051
  }

  depends_on = [aws_lb_listener.https, aws_lb_listener.grpc, aws_iam_role_policy.execution]
}
