# Generated secrets live only in Secrets Manager (and the Terraform state: keep the state encrypted).
resource "random_password" "jwt_secret" {
  length  = 48
  special = false
}

resource "random_password" "agent_token" {
  length  = 40
  special = false
}

resource "random_password" "admin_password" {
  length  = 24
  special = false
}

resource "aws_secretsmanager_secret" "jwt_secret" {
  name                    = "${local.name}/jwt-secret"
  description             = "Dockwatch JWT signing secret"
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "jwt_secret" {
  secret_id     = aws_secretsmanager_secret.jwt_secret.id
  secret_string = random_password.jwt_secret.result
}

resource "aws_secretsmanager_secret" "agent_token" {
  name                    = "${local.name}/agent-token"
  description             = "Token Dockwatch agents present to the server"
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "agent_token" {
  secret_id     = aws_secretsmanager_secret.agent_token.id
  secret_string = random_password.agent_token.result
}

resource "aws_secretsmanager_secret" "influxdb_token" {
  name                    = "${local.name}/influxdb-token"
  description             = "InfluxDB API token used by the Dockwatch server"
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "influxdb_token" {
  secret_id     = aws_secretsmanager_secret.influxdb_token.id
  secret_string = var.influxdb_token
}

resource "aws_secretsmanager_secret" "admin_password" {
  name                    = "${local.name}/admin-password"
  description             = "Password of the first Dockwatch admin user"
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "admin_password" {
  secret_id     = aws_secretsmanager_secret.admin_password.id
  secret_string = random_password.admin_password.result
}
